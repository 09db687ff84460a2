// Every write a reconciler makes is announced just before it is made, on the
// diagnostics channel tds.operator.write with message { what }, so an
// observer in the process sees the write points in order (the
// crash-consistency tests preload a subscriber that kills the process at one:
// test/harness/crash-hook.ts). With no subscriber it costs one check.
import { channel } from "node:diagnostics_channel";

export const WRITE_CHANNEL = "tds.operator.write";

/** The message published on WRITE_CHANNEL. */
export interface WritePoint {
  /** What is about to be written, for example `status DataSpace acme`. */
  readonly what: string;
}

const writes = channel(WRITE_CHANNEL);

export function announceWrite(what: string): void {
  if (writes.hasSubscribers) writes.publish({ what } satisfies WritePoint);
}
