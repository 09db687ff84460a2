// Who is calling and what they may see. Pure functions: the authorisation rules
// of the API live here and are unit-tested as a table.
import { TdsError } from "../errors.ts";

export const roles = [
  "platform-admin",
  "space-admin",
  "participant",
  "finance-viewer",
  "auditor",
  "compliance-reviewer",
  "data-subject",
  "operator",
] as const;
export type Role = (typeof roles)[number];

export interface Principal {
  readonly subject: string;
  readonly role: Role;
  /** The space a non-platform role is bound to. */
  readonly space?: string;
  /**
   * The participant a participant role acts as; for a data subject, the
   * participant that holds the subject's data (its consents are for that
   * participant's offers).
   */
  readonly participant?: string;
}

/** What an endpoint needs in a space. */
export type Capability =
  | "usage:write" // post usage events for the space
  | "usage:read" // read usage reports (participants: only their own)
  | "statements:read" // read statements (participants: only their own lines)
  | "statements:write" // close periods, add adjustments
  | "prices:read"
  | "prices:write"
  | "conflicts:read"
  | "evidence:append" // append to a space's evidence log and force a checkpoint
  | "agreements:read" // read an agreement's use from the gateway's ledger
  | "evidence:read" // read every entry of a space's evidence log (participants: entries about themselves)
  | "exports:decide" // approve or reject a contract's cross-border export (tds.dev/export-decision)
  | "exports:read" // read the export report of a period (every cross-border transfer)
  | "filing:read" // read the space's signed filing record
  | "consents:grant" // record a data subject's consent (data subjects: their own; participants: for their offers)
  | "consents:revoke" // revoke a consent (data subjects: their own; participants: for their offers; reviewers: any)
  | "consents:read" // read consents (data subjects: their own; participants: for their offers)
  | "risk:read" // read the space's risk findings
  | "risk:close"; // close a risk finding, with the reason

/** A space admin's capabilities, in its space; a platform admin holds them in every space. */
const adminCapabilities: readonly Capability[] = [
  "usage:write",
  "usage:read",
  "statements:read",
  "statements:write",
  "prices:read",
  "prices:write",
  "conflicts:read",
  "evidence:append",
  "agreements:read",
  "evidence:read",
  "exports:decide",
  "exports:read",
  "filing:read",
  "consents:revoke",
  "consents:read",
  "risk:read",
  "risk:close",
];

const roleCapabilities: Record<Role, readonly Capability[]> = {
  "platform-admin": adminCapabilities,
  "space-admin": adminCapabilities,
  "finance-viewer": ["usage:read", "statements:read", "prices:read", "evidence:read"],
  // Read-only over what the space can be held to: its evidence, statements, usage and
  // prices, the gateway's record of each agreement's use, its export reports and filing
  // records. It changes nothing.
  auditor: [
    "usage:read",
    "statements:read",
    "prices:read",
    "conflicts:read",
    "agreements:read",
    "evidence:read",
    "exports:read",
    "filing:read",
    "consents:read",
    "risk:read",
  ],
  // Decides cross-border exports and consent disputes and closes risk findings, and nothing
  // else (it reads the contracts, consents and findings it decides, and revokes a consent a
  // dispute finds wanting).
  "compliance-reviewer": ["exports:decide", "consents:read", "consents:revoke", "risk:read", "risk:close"],
  participant: [
    "usage:read",
    "statements:read",
    "evidence:read",
    "consents:grant",
    "consents:revoke",
    "consents:read",
  ],
  // A person whose data a participant holds: gives, reads and revokes its own consents.
  "data-subject": ["consents:grant", "consents:revoke", "consents:read"],
  // The operator's service identity: posts storage samples and price sheets, appends evidence,
  // reads agreements' accesses (DataContract status.accesses) and the consents a contract
  // rests on. It reads no reports or statements.
  operator: [
    "usage:write",
    "prices:read",
    "prices:write",
    "evidence:append",
    "agreements:read",
    "evidence:read",
    "consents:read",
    "risk:read",
  ],
};

/** Whether a role holds a capability (in a space it can see). */
export function hasCapability(role: Role, capability: Capability): boolean {
  return roleCapabilities[role].includes(capability);
}

/** The roles that have a capability (the finance page shows its close action to these). */
export function rolesWith(capability: Capability): Role[] {
  return roles.filter((r) => roleCapabilities[r].includes(capability));
}

/** Roles bound to no single space: they see every space. */
export const clusterWideRoles: readonly Role[] = ["platform-admin", "operator"];

/** True when the principal can see that the space exists at all. */
export function canSeeSpace(p: Principal, space: string): boolean {
  return clusterWideRoles.includes(p.role) || p.space === space;
}

/**
 * Checks a capability in a space. Another tenant's space is a 404, exactly as if it
 * did not exist; a 403 is only for a caller who already knows the space.
 */
export function authorize(p: Principal, space: string, capability: Capability): void {
  if (!canSeeSpace(p, space))
    throw new TdsError("spaceNotFound", `Space ${space} not found`, { field: "space" });
  if (!roleCapabilities[p.role].includes(capability))
    throw new TdsError("forbidden", `Role ${p.role} may not ${capability} in space ${space}`);
}

/**
 * The participant filter a principal's reads are confined to: participants see only
 * their own data, asking for someone else's is a 404.
 */
export function participantScope(p: Principal, requested: string | undefined): string | undefined {
  if (p.role !== "participant") return requested;
  if (requested !== undefined && requested !== p.participant)
    throw new TdsError("participantNotFound", `Participant ${requested} not found`, { field: "participant" });
  return p.participant;
}
