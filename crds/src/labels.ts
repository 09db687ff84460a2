// Labels and annotations that more than one component reads or writes: the
// operator sets them, the API and the gateway select and act on them.

/** Labels on everything the operator creates. */
export const labels = {
  managedBy: "app.kubernetes.io/managed-by",
  space: "tds.dev/space",
  participant: "tds.dev/participant",
  component: "app.kubernetes.io/component",
} as const;

/** The value of labels.managedBy on what the operator creates. */
export const MANAGER = "tds-operator";

/** Selects every object the operator manages. */
export const managedSelector = `${labels.managedBy}=${MANAGER}`;

/** On a DataContract and its credentials Secret: the agreement the gateway finds the contract by. */
export const AGREEMENT_LABEL = "tds.dev/agreement-id";
/** On a contract's credentials Secret: the DataContract it belongs to. */
export const CONTRACT_LABEL = "tds.dev/contract";

/** On a DataContract: the provider's decision on a contract that needs approval. */
export const DECISION_ANNOTATION = "tds.dev/decision";
/** On a DataContract: the consumer's decision on a cross-border export. */
export const EXPORT_DECISION_ANNOTATION = "tds.dev/export-decision";
/** On a DataContract: why it is revoked (set by the provider or an administrator). */
export const REVOKE_ANNOTATION = "tds.dev/revoke";
/** On a DataContract: who revoked it. */
export const REVOKED_BY_ANNOTATION = "tds.dev/revoked-by";
/** On a Suspended contract: its provider asks for it back (honoured once the rules allow it, then removed). */
export const REINSTATE_ANNOTATION = "tds.dev/reinstate";

/** `release` or `withhold`, set by the provider on a SandboxJob whose outputs are PendingReview. */
export const REVIEW_ANNOTATION = "tds.dev/review";
/** On a SandboxJob: why its outputs are withheld. */
export const REVIEW_REASON_ANNOTATION = "tds.dev/review-reason";
/** On a SandboxJob: who reviewed its outputs. */
export const REVIEWER_ANNOTATION = "tds.dev/reviewed-by";
