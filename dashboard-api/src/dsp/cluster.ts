// The DSP configuration of every DataSpace that has spec.dsp, read from the
// cluster: an informer over DataSpaces (@tds/kube, as the certificate
// trust view) and, for each declared counterparty, the Secrets its
// credentials are referenced in (in the space's control namespace tds-<space>;
// never a literal in the spec) and the client certificate the operator issued
// to the space's consumer participant. A change of a DataSpace rebuilds the
// view at once; it is also rebuilt every `refreshMs`, so a rotated Secret or a
// renewed certificate is picked up. A counterparty whose credential cannot be
// read is left out (fails closed) and the reason, naming the field, is logged.
import type { DataSpace, Participant } from "@tds/crds";
import { dataOf, Informer, kinds, type KubeClient, type KubeObject, type Logger } from "@tds/kube";
import { sha256Hex, type DspConfig, type DspCounterparty, type DspSpaceConfig } from "./identity.ts";

type DspSpec = NonNullable<DataSpace["spec"]["dsp"]>;
type CounterpartySpec = NonNullable<DspSpec["counterparties"]>[number];

/** What building a space's configuration reads from the cluster. */
export interface DspClusterReads {
  /** The decoded data of a Secret, or undefined when there is none. */
  secret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  participant(name: string): Promise<Participant | undefined>;
}

export function clusterReads(client: KubeClient): DspClusterReads {
  return {
    async secret(namespace, name) {
      const s = await client.find(kinds.secret, name, namespace);
      if (!s) return undefined;
      return Object.fromEntries(
        Object.entries(dataOf(s)).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
      );
    },
    participant: async (name) =>
      (await client.find<Participant & KubeObject>(kinds.participant, name)) ?? undefined,
  };
}

class FieldError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** One space's configuration from its spec.dsp; `errors` name the field of each counterparty left out. */
export async function spaceDspConfig(
  space: string,
  dsp: DspSpec,
  reads: DspClusterReads,
): Promise<{ config: DspSpaceConfig; errors: string[] }> {
  const control = `tds-${space}`;
  const errors: string[] = [];
  const inSpace = async (field: string, name: string): Promise<Participant> => {
    const p = await reads.participant(name);
    if (p?.spec.dataSpace !== space)
      throw new FieldError(field, `${name} is not a Participant of space ${space}`);
    return p;
  };
  const secretValue = async (field: string, ref: { name: string; key: string }): Promise<string> => {
    const data = await reads.secret(control, ref.name);
    if (!data) throw new FieldError(field, `Secret ${control}/${ref.name} does not exist`);
    const value = data[ref.key];
    if (value === undefined || value === "")
      throw new FieldError(field, `Secret ${control}/${ref.name} has no key ${ref.key}`);
    return value;
  };
  let consumerCertificate: Promise<{ certPem: string; keyPem: string }> | undefined;
  const consumerCert = (field: string) => {
    consumerCertificate ??= (async () => {
      if (!dsp.consumer) throw new FieldError(field, "presentCertificate needs spec.dsp.consumer");
      const p = await inSpace("spec.dsp.consumer", dsp.consumer);
      const secretName = p.status?.certificate?.secretName;
      const namespace = p.status?.namespace;
      const data = secretName && namespace ? await reads.secret(namespace, secretName) : undefined;
      const certPem = data?.["tls.crt"];
      const keyPem = data?.["tls.key"];
      if (!certPem || !keyPem)
        throw new FieldError(field, `participant ${dsp.consumer} has no client certificate (yet)`);
      return { certPem, keyPem };
    })();
    return consumerCertificate;
  };
  const counterparty = async (c: CounterpartySpec, i: number): Promise<DspCounterparty> => {
    const at = (f: string) => `spec.dsp.counterparties[${String(i)}].${f}`;
    if (c.participant) await inSpace(at("participant"), c.participant);
    const incoming = c.authorizationSecretRef
      ? {
          authorizationSha256: sha256Hex(
            await secretValue(at("authorizationSecretRef"), c.authorizationSecretRef),
          ),
        }
      : c.certificate
        ? {
            certificate: {
              space: c.certificate.space,
              ...(c.certificate.participant ? { participant: c.certificate.participant } : {}),
            },
          }
        : undefined;
    // The CRD's rule requires exactly one; an object written around it is left out here.
    if (!incoming)
      throw new FieldError(at("authorizationSecretRef"), "set one of authorizationSecretRef and certificate");
    return {
      id: c.id,
      ...incoming,
      ...(c.participant ? { participant: c.participant } : {}),
      ...(c.outgoingAuthorizationSecretRef
        ? {
            outgoingAuthorization: await secretValue(
              at("outgoingAuthorizationSecretRef"),
              c.outgoingAuthorizationSecretRef,
            ),
          }
        : {}),
      ...(c.presentCertificate ? { clientCertificate: await consumerCert(at("presentCertificate")) } : {}),
      ...(c.serverCaBundle ? { serverCa: c.serverCaBundle } : {}),
    };
  };
  const counterparties: DspCounterparty[] = [];
  for (const [i, c] of (dsp.counterparties ?? []).entries()) {
    try {
      counterparties.push(await counterparty(c, i));
    } catch (err) {
      if (!(err instanceof FieldError)) throw err;
      errors.push(err.message);
    }
  }
  let consumer: string | undefined = dsp.consumer;
  if (consumer) {
    try {
      await inSpace("spec.dsp.consumer", consumer);
    } catch (err) {
      if (!(err instanceof FieldError)) throw err;
      errors.push(err.message);
      consumer = undefined;
    }
  }
  return {
    config: {
      participantId: dsp.participantId ?? `urn:tds:${space}`,
      counterparties,
      ...(consumer ? { consumer } : {}),
    },
    errors,
  };
}

export interface DspSpacesOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly reads?: DspClusterReads;
  /** Rebuild this often even when no DataSpace changed (rotated Secrets, renewed certificates); default 30 s. */
  readonly refreshMs?: number;
  readonly watchdogMs?: number;
}

type Space = DataSpace & KubeObject;

/** The live DSP configuration of the cluster's DataSpaces: `current` is what a request reads. */
export class DspSpacesFromCluster {
  private readonly spaces: Informer<Space>;
  private readonly reads: DspClusterReads;
  private snapshot: DspConfig = {};
  private building: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private started: Promise<void> | undefined;
  private lastErrors = "";

  constructor(private readonly opts: DspSpacesOptions) {
    this.reads = opts.reads ?? clusterReads(opts.client);
    this.spaces = new Informer<Space>(opts.client, {
      resource: kinds.dataSpace,
      log: opts.log,
      watchdogMs: opts.watchdogMs ?? 120_000,
      onEvent: (type) => {
        if (type !== "resync" && this.spaces.hasSynced) void this.rebuild();
      },
    });
  }

  readonly current = (): DspConfig => this.snapshot;

  /** Lists and watches the DataSpaces; resolves once the first view is built. */
  start(): Promise<void> {
    this.started ??= (async () => {
      await this.spaces.start();
      await this.rebuild();
      const every = this.opts.refreshMs ?? 30_000;
      this.timer = setInterval(() => void this.rebuild(), every);
      this.timer.unref();
    })();
    return this.started;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.spaces.stop();
  }

  /** Rebuilds the view; a change while building is applied by one more build. */
  rebuild(): Promise<void> {
    if (this.building) {
      this.again = true;
      return this.building;
    }
    this.building = (async () => {
      try {
        // Bounded: a DataSpace changing all the time is caught up with by the periodic refresh.
        for (let i = 0; i < 5; i++) {
          this.again = false;
          await this.build();
          if (!this.changedMeanwhile()) break;
        }
      } catch (err) {
        this.opts.log.error("dsp: cannot read the DataSpaces' DSP configuration", { err: String(err) });
      } finally {
        this.building = undefined;
      }
    })();
    return this.building;
  }

  /** A method, not a field read, so that narrowing does not assume it is still false after an await. */
  private changedMeanwhile(): boolean {
    return this.again;
  }

  private async build(): Promise<void> {
    const next: Record<string, DspSpaceConfig> = {};
    const errors: string[] = [];
    for (const s of this.spaces.list()) {
      const name = s.metadata.name ?? "";
      if (!s.spec.dsp) continue;
      const r = await spaceDspConfig(name, s.spec.dsp, this.reads);
      next[name] = r.config;
      errors.push(...r.errors.map((e) => `DataSpace ${name}: ${e}`));
    }
    this.snapshot = next;
    const text = errors.join("; ");
    if (text !== this.lastErrors && text !== "")
      this.opts.log.error("dsp: counterparties left out", { errors });
    this.lastErrors = text;
  }
}
