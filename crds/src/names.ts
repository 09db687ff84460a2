// Names derived from a space and a participant. A participant's namespace is
// `<space>--<participant>`; neither name may contain "--" (the CRDs refuse it,
// common.types.ts), so the name splits one way only.

/** The namespace the operator creates for a participant. */
export function participantNamespace(space: string, participant: string): string {
  return `${space}--${participant}`;
}

/** Space and participant of `<space>--<participant>`; undefined for a namespace that is not a participant's. */
export function splitParticipantNamespace(
  ns: string | undefined,
): { space: string; participant: string } | undefined {
  const i = ns?.indexOf("--") ?? -1;
  if (!ns || i <= 0 || i + 2 >= ns.length) return undefined;
  return { space: ns.slice(0, i), participant: ns.slice(i + 2) };
}
