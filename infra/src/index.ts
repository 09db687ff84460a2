export { TdsPlatform, loadCrds, loadRbac, type TdsPlatformArgs } from "./platform.ts";
