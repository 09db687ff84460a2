// Group commit for evidence appends. A space's log takes one append at a time
// (its head row is locked for the transaction), so many small appends, such
// as one per gateway transfer, queue on that lock at a few hundred per
// second. Here the appends that arrive for a space while one is being
// written wait and are then written together, in arrival order, as one
// transaction; each caller gets its own entries' results, after COMMIT, as
// with a direct append. If a grouped append fails (one caller's entry
// conflicts with the log, say), each caller of that group is appended alone,
// so one bad entry never costs another caller its evidence.
import type { EvidenceEntry } from "@tds/wire";
import type { AppendResult } from "./store.ts";

/** What appends: the store, or anything with its contract. */
export interface EvidenceAppender {
  append(space: string, entries: readonly EvidenceEntry[]): Promise<AppendResult[]>;
}

interface Waiting {
  readonly entries: readonly EvidenceEntry[];
  readonly resolve: (r: AppendResult[]) => void;
  readonly reject: (err: unknown) => void;
}

export class GroupedAppender implements EvidenceAppender {
  private readonly queues = new Map<string, Waiting[]>();
  /** Appends written, and how many transactions they took (for tests and metrics). */
  readonly stats = { appends: 0, transactions: 0 };

  constructor(
    private readonly store: EvidenceAppender,
    /** At most this many entries per transaction. */
    private readonly maxEntries = 1000,
  ) {}

  append(space: string, entries: readonly EvidenceEntry[]): Promise<AppendResult[]> {
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(space);
      if (queue) {
        queue.push({ entries, resolve, reject });
        return;
      }
      this.queues.set(space, [{ entries, resolve, reject }]);
      void this.drain(space);
    });
  }

  /** Writes the space's queue group by group until it is empty, then forgets it. */
  private async drain(space: string): Promise<void> {
    const queue = this.queues.get(space);
    while (queue && queue.length > 0) {
      const group: Waiting[] = [];
      let size = 0;
      while (
        queue.length > 0 &&
        (group.length === 0 || size + (queue[0]?.entries.length ?? 0) <= this.maxEntries)
      ) {
        const next = queue.shift();
        if (!next) break;
        group.push(next);
        size += next.entries.length;
      }
      await this.write(space, group);
    }
    this.queues.delete(space);
  }

  private async write(space: string, group: readonly Waiting[]): Promise<void> {
    this.stats.appends += group.length;
    try {
      this.stats.transactions++;
      const results = await this.store.append(
        space,
        group.flatMap((w) => w.entries),
      );
      let at = 0;
      for (const w of group) {
        w.resolve(results.slice(at, at + w.entries.length));
        at += w.entries.length;
      }
    } catch (err) {
      if (group.length === 1) {
        group[0]?.reject(err);
        return;
      }
      for (const w of group) {
        try {
          this.stats.transactions++;
          w.resolve(await this.store.append(space, w.entries));
        } catch (own) {
          w.reject(own);
        }
      }
    }
  }
}
