// Public surface of @tds/dashboard-api for other packages and tests.
export { buildApp, type BuildAppOptions } from "./app.ts";
export { migrate } from "./migrate.ts";
export { createTokenVerifier, type TokenVerifier } from "./auth/tokens.ts";
export { generateDevKey, jwksOf, mintToken, type DevKey } from "./auth/keys.ts";
export { meters, type MeterName } from "./metering/meters.ts";
export { usageEventType, type UsageEventInput } from "./metering/events.ts";
export { priceSheetFromDataSpace, upsertPriceSheet, type PriceSheetInput } from "./statements/prices.ts";
