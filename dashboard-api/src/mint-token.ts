// Mints a bearer token for the demo with the dev key the API generated:
//   node --import tsx dashboard-api/src/mint-token.ts --role platform-admin [--space s] [--participant p] [--ttl 8h]
import { parseArgs } from "node:util";
import { devKeyFile } from "./config.ts";
import { loadOrCreateDevKey, mintToken } from "./auth/keys.ts";
import { roles, type Role } from "./auth/principal.ts";

const { values } = parseArgs({
  options: {
    role: { type: "string", default: "platform-admin" },
    space: { type: "string" },
    participant: { type: "string" },
    subject: { type: "string" },
    ttl: { type: "string", default: "8h" },
    "key-file": { type: "string" },
  },
});
const role = values.role as Role;
if (!roles.includes(role)) {
  console.error(`--role must be one of ${roles.join(", ")}`);
  process.exit(2);
}
const key = await loadOrCreateDevKey(values["key-file"] ?? devKeyFile(process.env));
console.log(
  await mintToken(key, {
    role,
    subject: values.subject ?? `demo-${role}`,
    ...(values.space ? { space: values.space } : {}),
    ...(values.participant ? { participant: values.participant } : {}),
    expiresIn: values.ttl,
  }),
);
