export { TdsPlatform, chartPath, chartValues, mergeValues, type TdsPlatformArgs } from "./platform.ts";
