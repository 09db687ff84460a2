// Timestamps as the API writes them: RFC 3339 in UTC to the second, the form
// of metav1.Time (Kubernetes drops sub-second digits, so status written with
// them would differ on every read-back).

/** `2026-01-02T03:04:05Z`: the time to the second, in UTC. */
export function rfc3339(t: Date | number): string {
  return (typeof t === "number" ? new Date(t) : t).toISOString().replace(/\.\d{3}Z$/, "Z");
}
