// The gateway benchmark's second baseline: the least a proxy in front of the
// S3 server can do. GET /<bucket>/<key> streams the object with the same SDK
// and client settings as the gateway (gatewayS3), with no authentication,
// grant, claim, metering or evidence. Gateway / this proxy is the gateway's
// own cost; this proxy / direct is the cost of any extra hop on the machine.
// Listens on PORT (127.0.0.1); run by gateway.bench.ts.
import { createServer } from "node:http";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { gatewayS3 } from "@tds/gateway";

const s3 = gatewayS3(process.env);
if (!s3) throw new Error("TDS_S3_* is not set");
const port = Number(process.env.PORT);

createServer((req, res) => {
  const [, bucket, ...key] = (req.url ?? "/").split("/");
  void (async () => {
    try {
      const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key.join("/") }));
      res.writeHead(200, {
        "content-type": out.ContentType ?? "application/octet-stream",
        ...(out.ContentLength === undefined ? {} : { "content-length": out.ContentLength }),
      });
      await pipeline(out.Body as Readable, res);
    } catch (err) {
      if (!res.headersSent) res.writeHead(502).end(String(err));
      else res.destroy();
    }
  })();
}).listen(port, "127.0.0.1");
