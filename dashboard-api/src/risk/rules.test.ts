import assert from "node:assert/strict";
import { test } from "node:test";
import {
  copiedInputFindings,
  refusalFindings,
  resolveRules,
  unusualHourFindings,
  volumeFindings,
  windowAt,
  windowsToJudge,
  type AccessRow,
  type VolumeRow,
} from "./rules.ts";

const H = 3_600_000;
const at = (iso: string) => new Date(iso);

test("windows are aligned to the epoch; a pass judges the previous and the current one", () => {
  const w = windowAt(at("2026-12-02T10:47:12Z"), 60);
  assert.equal(w.start.toISOString(), "2026-12-02T10:00:00.000Z");
  assert.equal(w.end.toISOString(), "2026-12-02T11:00:00.000Z");
  const [prev, cur] = windowsToJudge(at("2026-12-02T10:07:00Z"), 10);
  assert.equal(prev?.start.toISOString(), "2026-12-02T09:50:00.000Z");
  assert.equal(cur?.start.toISOString(), "2026-12-02T10:00:00.000Z");
});

test("resolveRules: absent rules stay off, present ones get the defaults", () => {
  assert.deepEqual(resolveRules(undefined), { expireAfterHours: 168 });
  assert.deepEqual(resolveRules({ refusedAccesses: { threshold: 3 } }), {
    refusedAccesses: { windowMinutes: 10, threshold: 3 },
    expireAfterHours: 168,
  });
  assert.deepEqual(resolveRules({ copiedInputs: {} }), {
    copiedInputs: { windowMinutes: 1440, threshold: 1 },
    expireAfterHours: 168,
  });
});

test("downloadVolume: over factor × the median of the active baseline windows, exactly", () => {
  const rule = { windowMinutes: 60, factor: 10, baselineDays: 1, minBaselineWindows: 3 };
  const window = windowAt(at("2026-12-02T10:00:00Z"), 60);
  const base = (consumer: string, bytes: bigint[]): VolumeRow[] =>
    bytes.map((b, i) => ({
      consumer,
      windowStart: new Date(window.start.getTime() - (i + 1) * H),
      bytes: b,
    }));
  const cases: { name: string; rows: VolumeRow[]; current: bigint; fires: boolean; threshold?: string }[] = [
    {
      name: "odd count: median 200, 2001 > 2000",
      rows: base("a", [100n, 200n, 900n]),
      current: 2001n,
      fires: true,
      threshold: "2000",
    },
    {
      name: "exactly factor × median does not fire",
      rows: base("a", [100n, 200n, 900n]),
      current: 2000n,
      fires: false,
    },
    {
      name: "even count: median 150, threshold 1500",
      rows: base("a", [100n, 200n, 100n, 300n]),
      current: 1501n,
      fires: true,
      threshold: "1500",
    },
    {
      name: "two active windows are fewer than minBaselineWindows",
      rows: base("a", [2n, 3n]),
      current: 26n,
      fires: false,
    },
    { name: "too few active windows", rows: base("a", [1n, 1n]), current: 1000n, fires: false },
    { name: "zero windows are not active", rows: base("a", [0n, 0n, 0n, 5n]), current: 1000n, fires: false },
    {
      name: "baseline older than baselineDays is ignored",
      rows: [
        ...base("a", [1n, 1n]),
        { consumer: "a", windowStart: new Date(window.start.getTime() - 30 * H), bytes: 1n },
      ],
      current: 1000n,
      fires: false,
    },
  ];
  for (const c of cases) {
    const rows = [...c.rows, { consumer: "a", windowStart: window.start, bytes: c.current }];
    const found = volumeFindings(rule, window, rows);
    assert.equal(found.length, c.fires ? 1 : 0, c.name);
    if (c.threshold !== undefined) {
      const [first] = found;
      assert.ok(first);
      assert.equal(first.threshold, c.threshold, c.name);
      assert.equal(first.subject, "a");
      assert.equal(first.observed, String(c.current));
    }
  }
  const odd = volumeFindings({ ...rule, factor: 3, minBaselineWindows: 2 }, window, [
    ...base("b", [1n, 2n]),
    { consumer: "b", windowStart: window.start, bytes: 5n },
  ]);
  const [half] = odd;
  assert.ok(half);
  assert.equal(half.threshold, "4.5");
  assert.match(half.message, /^Consumer b downloaded 5 bytes in the window 2026-12-02T10:00:00.000Z/);
});

test("refusedAccesses: at least threshold refusals of one agreement in the window", () => {
  const rule = { windowMinutes: 10, threshold: 3 };
  const window = windowAt(at("2026-12-02T10:00:00Z"), 10);
  const other = new Date(window.start.getTime() - 600_000);
  const found = refusalFindings(rule, window, [
    { agreementId: "x", consumer: "c", windowStart: window.start, refusals: 3 },
    { agreementId: "y", consumer: "c", windowStart: window.start, refusals: 2 },
    { agreementId: "z", consumer: "c", windowStart: other, refusals: 9 },
  ]);
  assert.deepEqual(
    found.map((f) => [f.subject, f.observed, f.threshold]),
    [["x", "3", "3"]],
  );
});

test("unusualHours: an access at an hour of the day never used in the baseline, once judged", () => {
  const rule = { baselineDays: 7, minActiveDays: 3 };
  const window = windowAt(at("2026-12-02T03:00:00Z"), 60);
  const day = (n: number) => new Date(Date.UTC(2026, 11, 2 - n));
  const usual: AccessRow[] = [1, 2, 3].flatMap((n) =>
    [9, 14].map((hour) => ({ agreementId: "a", consumer: "c", day: day(n), hour })),
  );
  const now: AccessRow = { agreementId: "a", consumer: "c", day: day(0), hour: 3 };
  const f = unusualHourFindings(rule, window, [...usual, now]);
  assert.equal(f.length, 1);
  const [late] = f;
  assert.ok(late);
  assert.equal(late.observed, "3");
  assert.equal(late.threshold, "09,14");
  // a usual hour does not fire; nor does a contract with too few active days, nor days before the baseline
  assert.equal(
    unusualHourFindings(rule, windowAt(at("2026-12-02T09:00:00Z"), 60), [...usual, { ...now, hour: 9 }])
      .length,
    0,
  );
  assert.equal(
    unusualHourFindings(rule, window, [...usual.filter((r) => r.day.getTime() !== day(3).getTime()), now])
      .length,
    0,
  );
  assert.equal(
    unusualHourFindings(rule, window, [
      ...usual,
      { agreementId: "a", consumer: "c", day: day(8), hour: 3 },
      now,
    ]).length,
    1,
  );
  // no access in the window: nothing to judge
  assert.equal(unusualHourFindings(rule, window, usual).length, 0);
});

test("copiedInputs: at least threshold distinct jobs of one consumer withheld for copying an input in the window", () => {
  const window = windowAt(at("2026-12-02T10:00:00Z"), 1440);
  const rows = [
    { consumer: "c", job: "s--c/a", time: at("2026-12-02T01:00:00Z") },
    { consumer: "c", job: "s--c/b", time: at("2026-12-02T23:59:59Z") },
    // the same job twice is one job
    { consumer: "c", job: "s--c/b", time: at("2026-12-02T23:59:59Z") },
    { consumer: "d", job: "s--d/x", time: at("2026-12-02T05:00:00Z") },
    // outside the window: the day before, and the next day's first instant
    { consumer: "d", job: "s--d/y", time: at("2026-12-01T23:59:59Z") },
    { consumer: "e", job: "s--e/z", time: at("2026-12-03T00:00:00Z") },
  ];
  assert.deepEqual(
    copiedInputFindings({ windowMinutes: 1440, threshold: 1 }, window, rows).map((f) => [
      f.subject,
      f.observed,
      f.threshold,
    ]),
    [
      ["c", "2", "1"],
      ["d", "1", "1"],
    ],
  );
  const [two] = copiedInputFindings({ windowMinutes: 1440, threshold: 2 }, window, rows);
  assert.equal(two?.subject, "c");
  assert.equal(
    two.message,
    "Consumer c had 2 sandbox jobs withheld for copying an input in the window 2026-12-02T00:00:00.000Z to 2026-12-03T00:00:00.000Z, at least 2: s--c/a, s--c/b",
  );
  assert.equal(copiedInputFindings({ windowMinutes: 1440, threshold: 2 }, window, rows).length, 1);
});
