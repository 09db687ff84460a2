// The labels that mark what the operator creates, and the selector of all of it.
/** Labels on everything the operator creates. */
export const labels = {
  managedBy: "app.kubernetes.io/managed-by",
  space: "tds.dev/space",
  participant: "tds.dev/participant",
  component: "app.kubernetes.io/component",
} as const;

export const MANAGER = "tds-operator";

/** Selects every object the operator manages. */
export const managedSelector = `${labels.managedBy}=${MANAGER}`;
