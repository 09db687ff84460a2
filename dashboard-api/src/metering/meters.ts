// The meter catalog: every meter's base unit (what events carry, as an integer)
// and the billing unit that price sheets quote, with the exact integer factor between them.
// The names are @tds/wire's meterNames, which usage events are validated by; each has an entry here.
import type { MeterName } from "@tds/wire";

export interface Meter {
  readonly name: string;
  readonly baseUnit: string;
  readonly billingUnit: string;
  /** How many base units make one billing unit. */
  readonly baseUnitsPerBillingUnit: bigint;
  readonly description: string;
}

const GB = 1_000_000_000n;
const HOUR = 3600n;
/** A billing month is 730 hours, as the large clouds price storage. */
const MONTH_SECONDS = 730n * HOUR;

export const meters = {
  "storage.byte_seconds": {
    name: "storage.byte_seconds",
    baseUnit: "byte-second",
    billingUnit: "GB-month",
    baseUnitsPerBillingUnit: GB * MONTH_SECONDS,
    description:
      "Bucket size integrated over time, from periodic samples (bytes x seconds since the last sample)",
  },
  "transfer.bytes": {
    name: "transfer.bytes",
    baseUnit: "byte",
    billingUnit: "GB",
    baseUnitsPerBillingUnit: GB,
    description: "Bytes served through the data gateway",
  },
  "sandbox.input_bytes": {
    name: "sandbox.input_bytes",
    baseUnit: "byte",
    billingUnit: "GB",
    baseUnitsPerBillingUnit: GB,
    description: "Bytes of an offer's objects that sandbox jobs read through the gateway",
  },
  "sandbox.output_bytes": {
    name: "sandbox.output_bytes",
    baseUnit: "byte",
    billingUnit: "GB",
    baseUnitsPerBillingUnit: GB,
    description: "Bytes of outputs that sandbox jobs wrote through the gateway",
  },
  "sandbox.cpu_milliseconds": {
    name: "sandbox.cpu_milliseconds",
    baseUnit: "CPU-millisecond",
    billingUnit: "CPU-hour",
    baseUnitsPerBillingUnit: 1000n * HOUR,
    description: "CPU time used by sandbox jobs",
  },
  "sandbox.memory_byte_seconds": {
    name: "sandbox.memory_byte_seconds",
    baseUnit: "byte-second",
    billingUnit: "GB-hour",
    baseUnitsPerBillingUnit: GB * HOUR,
    description: "Memory reserved by sandbox jobs over time",
  },
  "api.calls": {
    name: "api.calls",
    baseUnit: "call",
    billingUnit: "1000 calls",
    baseUnitsPerBillingUnit: 1000n,
    description: "API calls per participant",
  },
  "offer.contracts": {
    name: "offer.contracts",
    baseUnit: "contract",
    billingUnit: "contract",
    baseUnitsPerBillingUnit: 1n,
    description: "Contracts agreed for a data offer (its one-off perContract price), sent by the operator",
  },
  "offer.accesses": {
    name: "offer.accesses",
    baseUnit: "access",
    billingUnit: "access",
    baseUnitsPerBillingUnit: 1n,
    description: "Accesses to a data offer",
  },
} as const satisfies Record<MeterName, Meter>;

export function isMeterName(name: string): name is MeterName {
  return Object.hasOwn(meters, name);
}
