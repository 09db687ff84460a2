// The sample industrial data space (crds/samples/) declared in code with the
// typed TDS constructs: the DataSpace and its three Participants in one chart,
// and the offers, contracts and sandbox job that live in the participants'
// namespaces in a second, applied once the participants are onboarded (as
// crds/samples/after-onboarding/ is). cdk8s/src/industrial-space.int.test.ts
// checks that it synthesizes to the YAML samples, object for object.
//
//   node --import tsx cdk8s/examples/industrial-space.ts   # writes cdk8s/dist/*.k8s.yaml
import { App, Chart } from "cdk8s";
import { resolve } from "node:path";
import { DataContract, DataOffer, DataSpace, Participant, SandboxJob } from "../src/index.ts";

/** The two charts: `space` (cluster-scoped, applies at once) and `usage` (after onboarding). */
export function industrialSpace(app: App): { space: Chart; usage: Chart } {
  const space = new Chart(app, "industrial-space");
  const usage = new Chart(app, "industrial-space-usage");
  new DataSpace(space, "yangtze-industrial", {
    metadata: { name: "yangtze-industrial" },
    spec: {
      displayName: "Yangtze Industrial Data Space",
      description:
        "Equipment makers, component suppliers and analytics firms share machine telemetry and maintenance records to improve predictive maintenance.",
      spaceType: "Industry",
      admission: { mode: "Manual", allowedIdentityMethods: ["Certificate", "OIDC", "DID"] },
      certificateAuthority: {
        keyAlgorithm: "ECDSAP256",
        validityDays: 3650,
        clientCertificateValidityDays: 90,
      },
      classification: {
        defaultLevel: "internal",
        levels: [
          {
            name: "public",
            rank: 0,
            description: "Open data, such as published product specifications.",
            defaultPolicy: {
              allowedAccessModes: ["download", "computeOnly"],
              crossBorderTransfer: "Allowed",
            },
          },
          {
            name: "internal",
            rank: 1,
            description: "Operational data shared among the space's participants.",
            defaultPolicy: {
              allowedAccessModes: ["download", "computeOnly"],
              crossBorderTransfer: "RequiresApproval",
            },
          },
          {
            name: "important",
            rank: 2,
            description: "Production data whose leak would harm a sector; stays in the home region.",
            defaultPolicy: {
              allowedAccessModes: ["download", "computeOnly"],
              crossBorderTransfer: "Forbidden",
              maxContractDurationSeconds: 31536000,
            },
          },
          {
            name: "core",
            rank: 3,
            description: "Core data; only ever used inside sandboxes.",
            defaultPolicy: {
              allowedAccessModes: ["computeOnly"],
              crossBorderTransfer: "Forbidden",
              requireProviderApproval: true,
            },
          },
        ],
      },
      crossBorder: {
        homeRegion: "CN",
        recordExports: true,
        negativeList: [
          { dataCategory: "geospatial.survey", reason: "Surveying and mapping data must not be exported." },
          {
            dataCategory: "industrial.process-parameters",
            destinationRegions: ["US"],
            reason: "Export-controlled process parameters.",
          },
        ],
      },
      storage: {
        driver: "S3",
        storageClass: "STANDARD",
        bucketPrefix: "tds",
        participantQuota: { default: "100Gi", maximum: "10Ti" },
      },
      sandbox: {
        runtimeClassName: "gvisor",
        defaultResources: { cpu: "1", memory: "2Gi" },
        maxResources: { cpu: "8", memory: "32Gi" },
        maxDurationSeconds: 14400,
        maxConcurrentJobsPerParticipant: 5,
        outputReview: "Required",
      },
      metering: {
        currency: "CNY",
        priceSheet: {
          storagePerGBMonth: "0.12",
          transferPerGB: "0.50",
          computePerCPUHour: "0.35",
          memoryPerGBHour: "0.05",
          perAccess: "0.01",
        },
        billingPeriod: "Monthly",
        platformFeeBasisPoints: 500,
        revenueSharing: "ProportionalToUsage",
      },
      evidence: { checkpointIntervalSeconds: 300, retentionDays: 3650, signatureAlgorithm: "Ed25519" },
    },
  });
  new Participant(space, "shanghai-turbines", {
    metadata: { name: "shanghai-turbines", labels: { "tds.dev/industry": "power-equipment" } },
    spec: {
      dataSpace: "yangtze-industrial",
      displayName: "Shanghai Turbines",
      organization: {
        legalName: "Shanghai Turbine Works Co., Ltd.",
        registrationId: "91310000MA1K4ABC2X",
        region: "CN-SH",
        contactEmail: "data-office@shanghai-turbines.example",
      },
      identity: {
        certificate: { subject: "CN=shanghai-turbines,O=Shanghai Turbine Works Co.\\, Ltd.,C=CN" },
      },
      roles: ["provider"],
      admins: [{ kind: "Group", name: "shanghai-turbines:data-office" }],
      quota: { storage: "500Gi" },
      approved: true,
    },
  });
  new Participant(space, "bavaria-sensors", {
    metadata: { name: "bavaria-sensors", labels: { "tds.dev/industry": "sensors" } },
    spec: {
      dataSpace: "yangtze-industrial",
      displayName: "Bavaria Sensors",
      organization: {
        legalName: "Bavaria Sensorik GmbH",
        registrationId: "DE-HRB-123456",
        region: "DE-BY",
        contactEmail: "dataspace@bavaria-sensors.example",
      },
      // An OIDC identity is verified against its issuer before onboarding (docs/identity.md): no
      // issuer of this sample exists, so it uses a certificate from the space CA.
      identity: { certificate: { subject: "CN=bavaria-sensors,O=Bavaria Sensorik GmbH,C=DE" } },
      roles: ["provider"],
      admins: [{ kind: "User", name: "anna.huber@bavaria-sensors.example" }],
      approved: true,
    },
  });
  new Participant(space, "wuhan-analytics", {
    metadata: { name: "wuhan-analytics", labels: { "tds.dev/industry": "analytics" } },
    spec: {
      dataSpace: "yangtze-industrial",
      displayName: "Wuhan Analytics",
      organization: {
        legalName: "Wuhan Predictive Analytics Co., Ltd.",
        registrationId: "91420100MA4KXYZ12Q",
        region: "CN-HB",
      },
      // A DID is resolved and its key's control proved before onboarding (docs/identity.md): this
      // sample's did:web host does not exist, so it uses a certificate from the space CA.
      identity: {
        certificate: { subject: "CN=wuhan-analytics,O=Wuhan Predictive Analytics Co.\\, Ltd.,C=CN" },
      },
      roles: ["consumer"],
      admins: [
        { kind: "User", name: "li.wei@wuhan-analytics.example" },
        { kind: "Group", name: "wuhan-analytics:ml-team" },
      ],
      quota: { maxConcurrentSandboxJobs: 3, sandboxCPU: "16", sandboxMemory: "64Gi" },
      approved: true,
    },
  });

  new DataOffer(usage, "turbine-telemetry", {
    metadata: { name: "turbine-telemetry", namespace: "yangtze-industrial--shanghai-turbines" },
    spec: {
      title: "Gas turbine telemetry, 2025",
      description:
        "One-minute vibration, temperature and load readings from 40 gas turbines in service, with unit identifiers pseudonymised.",
      keywords: ["turbine", "telemetry", "vibration", "predictive-maintenance"],
      classification: "important",
      dataCategory: "industrial.telemetry",
      regionOfOrigin: "CN-SH",
      asset: {
        prefix: "telemetry/2025/",
        format: "application/vnd.apache.parquet",
        schema: { format: "Parquet", uri: "https://schemas.shanghai-turbines.example/telemetry/v3" },
      },
      policy: {
        purposes: ["predictive-maintenance", "research"],
        allowedRegions: ["CN"],
        validity: { notBefore: "2026-01-01T00:00:00Z", notAfter: "2031-01-01T00:00:00Z" },
        maxAccesses: 1000,
        accessMode: "download",
      },
      price: { currency: "CNY", perContract: "500.00", perGBDownloaded: "2.50" },
    },
  });
  new DataOffer(usage, "turbine-maintenance-logs", {
    metadata: { name: "turbine-maintenance-logs", namespace: "yangtze-industrial--shanghai-turbines" },
    spec: {
      title: "Turbine maintenance and failure records",
      description:
        "Ten years of work orders, replaced parts and root-cause analyses. Usable only inside sandboxes; outputs are reviewed before release.",
      keywords: ["maintenance", "failures", "root-cause"],
      classification: "important",
      dataCategory: "industrial.maintenance",
      regionOfOrigin: "CN-SH",
      asset: {
        key: "maintenance/work-orders-2015-2025.csv",
        format: "text/csv",
        schema: {
          format: "CSVW",
          inline:
            '{"tableSchema": {"columns": [{"name": "unit"}, {"name": "opened"}, {"name": "part"}, {"name": "cause"}]}}',
        },
      },
      policy: {
        purposes: ["predictive-maintenance"],
        allowedConsumers: { participantSelector: { matchLabels: { "tds.dev/industry": "analytics" } } },
        maxAccesses: 50,
        accessMode: "computeOnly",
        contractApproval: "Automatic",
      },
      price: { perContract: "2000.00", perSandboxCPUHour: "1.20" },
    },
  });
  new DataOffer(usage, "furnace-process-core", {
    metadata: { name: "furnace-process-core", namespace: "yangtze-industrial--bavaria-sensors" },
    spec: {
      title: "Furnace control parameters",
      description:
        "Control set points of an annealing furnace line. Classified core, yet asks for download: the operator rejects it (the core level is compute-only).",
      classification: "core",
      dataCategory: "industrial.process-parameters",
      regionOfOrigin: "CN-JS",
      asset: { key: "furnace/setpoints.json", format: "application/json" },
      policy: { purposes: ["research"], accessMode: "download" },
      price: { perGBDownloaded: "10.00" },
    },
  });
  new DataContract(usage, "wuhan-maintenance-model", {
    metadata: { name: "wuhan-maintenance-model", namespace: "yangtze-industrial--wuhan-analytics" },
    spec: {
      offerRef: { namespace: "yangtze-industrial--shanghai-turbines", name: "turbine-maintenance-logs" },
      purpose: "predictive-maintenance",
      requestedAccesses: 20,
      justification: "Train a failure prediction model for the turbines we monitor.",
    },
  });
  new DataContract(usage, "wuhan-telemetry", {
    metadata: { name: "wuhan-telemetry", namespace: "yangtze-industrial--wuhan-analytics" },
    spec: {
      offerRef: { namespace: "yangtze-industrial--shanghai-turbines", name: "turbine-telemetry" },
      purpose: "predictive-maintenance",
      requestedAccesses: 100,
    },
  });
  new SandboxJob(usage, "failure-model-training", {
    metadata: { name: "failure-model-training", namespace: "yangtze-industrial--wuhan-analytics" },
    spec: {
      contractRef: { name: "wuhan-maintenance-model" },
      image:
        "registry.wuhan-analytics.example/failure-model@sha256:4f8d0c2a9b7e6f5d4c3b2a19087f6e5d4c3b2a19087f6e5d4c3b2a19087f6e5d",
      command: ["python", "-m", "train"],
      args: ["--input", "/data/input", "--output", "/outputs/model"],
      env: [{ name: "EPOCHS", value: "20" }],
      resources: { cpu: "4", memory: "8Gi" },
      maxDurationSeconds: 7200,
      outputs: [
        { name: "model", path: "/outputs/model/", maxSize: "2Gi" },
        { name: "metrics", path: "/outputs/metrics.json", maxSize: "1Mi" },
      ],
    },
  });

  return { space, usage };
}

if (import.meta.filename === resolve(process.argv[1] ?? "")) {
  const app = new App({ outdir: resolve(import.meta.dirname, "../dist") });
  industrialSpace(app);
  app.synth();
  console.log(`wrote ${app.charts.length} charts to ${app.outdir}`);
}
