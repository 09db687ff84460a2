// The risk rules of a DataSpace (spec.risk): which patterns in the space's
// metering and evidence the dashboard API looks for, and their thresholds.
// Each rule is off unless present; an empty object turns it on with the
// defaults below. The API evaluates them (dashboard-api/src/risk/), the
// operator shows open findings as the space's RiskDetected condition, and
// docs/governance.md ("Risk rules") defines each one exactly.
import { Type, type Static } from "@sinclair/typebox";
import { Int, Obj } from "./common.types.ts";

/** The rules, by the name a finding carries. */
export const RISK_RULES = ["downloadVolume", "refusedAccesses", "unusualHours", "copiedInputs"] as const;
export type RiskRule = (typeof RISK_RULES)[number];

/** The defaults the CRD applies; the API resolves an absent field to the same. */
export const RISK_DEFAULTS = {
  downloadVolume: { windowMinutes: 60, factor: 10, baselineDays: 14, minBaselineWindows: 3 },
  refusedAccesses: { windowMinutes: 10, threshold: 5 },
  unusualHours: { baselineDays: 28, minActiveDays: 7 },
  copiedInputs: { windowMinutes: 1440, threshold: 1 },
  expireAfterHours: 168,
} as const;

const d = RISK_DEFAULTS;

/** The longest refusedAccesses window the schema admits: a pass reads refusals of twice it (the window and the one before). */
export const REFUSED_ACCESSES_MAX_WINDOW_MINUTES = 1440;

export const RiskRulesSchema = Obj(
  "Risk rules evaluated on the space's metering and evidence. Each rule is off unless present; an empty object turns it on with its defaults. A finding is an evidence entry (risk.finding), an Event and the RiskDetected condition on the DataSpace, and the tds_risk_findings_open metric, until a space admin or compliance reviewer closes it or it expires.",
  {
    downloadVolume: Type.Optional(
      Obj(
        "A consumer downloads more than factor times its usual volume: its bytes through the gateway in one window over factor times the median of its active windows (those with any bytes) in the baseline before it.",
        {
          windowMinutes: Type.Optional(
            Int("Length of a window in minutes; windows are aligned to the Unix epoch, in UTC.", {
              minimum: 5,
              maximum: 1440,
              default: d.downloadVolume.windowMinutes,
            }),
          ),
          factor: Type.Optional(
            Int("How many times the median a window must exceed.", {
              minimum: 2,
              maximum: 1000,
              default: d.downloadVolume.factor,
            }),
          ),
          baselineDays: Type.Optional(
            Int("Days before the window whose windows make the baseline.", {
              minimum: 1,
              maximum: 90,
              default: d.downloadVolume.baselineDays,
            }),
          ),
          minBaselineWindows: Type.Optional(
            Int(
              "Active windows the baseline needs before the rule judges a consumer; fewer means no finding.",
              {
                minimum: 1,
                maximum: 1000,
                default: d.downloadVolume.minBaselineWindows,
              },
            ),
          ),
        },
        {
          "x-kubernetes-validations": [
            {
              rule: "!has(self.minBaselineWindows) || !has(self.windowMinutes) || !has(self.baselineDays) || self.minBaselineWindows * self.windowMinutes <= self.baselineDays * 1440",
              message:
                "must fit in the baseline: minBaselineWindows times windowMinutes exceeds baselineDays",
              fieldPath: ".minBaselineWindows",
            },
          ],
        },
      ),
    ),
    refusedAccesses: Type.Optional(
      Obj(
        "Repeated refused accesses: the gateway refuses at least threshold requests for one contract within one window (a wrong token, a suspended, expired or exhausted contract, a path outside the offer, a refused export).",
        {
          windowMinutes: Type.Optional(
            Int("Length of a window in minutes; windows are aligned to the Unix epoch, in UTC.", {
              minimum: 1,
              maximum: REFUSED_ACCESSES_MAX_WINDOW_MINUTES,
              default: d.refusedAccesses.windowMinutes,
            }),
          ),
          threshold: Type.Optional(
            Int("Refusals in one window that make a finding.", {
              minimum: 2,
              maximum: 100000,
              default: d.refusedAccesses.threshold,
            }),
          ),
        },
      ),
    ),
    unusualHours: Type.Optional(
      Obj(
        "Access outside the contract's usual hours: a download in a UTC hour of the day in which the contract had no access on any day of the baseline. A contract is judged once it had accesses on at least minActiveDays distinct days of the baseline.",
        {
          baselineDays: Type.Optional(
            Int("Days before the current UTC day that make the baseline.", {
              minimum: 7,
              maximum: 365,
              default: d.unusualHours.baselineDays,
            }),
          ),
          minActiveDays: Type.Optional(
            Int("Distinct days with accesses the baseline needs before the rule judges a contract.", {
              minimum: 1,
              maximum: 365,
              default: d.unusualHours.minActiveDays,
            }),
          ),
        },
        {
          "x-kubernetes-validations": [
            {
              rule: "!has(self.minActiveDays) || !has(self.baselineDays) || self.minActiveDays <= self.baselineDays",
              message: "must not exceed baselineDays",
              fieldPath: ".minActiveDays",
            },
          ],
        },
      ),
    ),
    copiedInputs: Type.Optional(
      Obj(
        "Sandbox outputs that copy an input: at least threshold of one consumer's SandboxJobs in one window had their outputs withheld because an output is a copy of an input object, contains a part of one, or names one by its SHA-256 (the sandbox.input-copied evidence entry).",
        {
          windowMinutes: Type.Optional(
            Int("Length of a window in minutes; windows are aligned to the Unix epoch, in UTC.", {
              minimum: 5,
              maximum: 10080,
              default: d.copiedInputs.windowMinutes,
            }),
          ),
          threshold: Type.Optional(
            Int("Jobs withheld for copying an input in one window that make a finding.", {
              minimum: 1,
              maximum: 10000,
              default: d.copiedInputs.threshold,
            }),
          ),
        },
      ),
    ),
    expireAfterHours: Type.Optional(
      Int("Hours after which an open finding closes by itself, unless closed before.", {
        minimum: 1,
        maximum: 8760,
        default: d.expireAfterHours,
      }),
    ),
  },
);
export type RiskRules = Static<typeof RiskRulesSchema>;
