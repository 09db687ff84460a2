// A DSP message POSTed over HTTPS with a client certificate (mTLS) and the
// counterparty's server CAs: what fetch cannot do without a dispatcher. The
// answer has fetch's shape where the engine reads it (ok, status, text()).
import { request } from "node:https";
import { rootCertificates } from "node:tls";

export interface PostTls {
  readonly cert?: string;
  readonly key?: string;
  /** PEM CAs of the server, trusted besides the system's. */
  readonly ca?: string;
}

export interface PostAnswer {
  readonly ok: boolean;
  readonly status: number;
  text(): Promise<string>;
}

/** At most this many bytes of an answer are read. */
const MAX_ANSWER_BYTES = 1 << 20;

export function postTls(
  url: string,
  headers: Record<string, string>,
  body: string,
  tls: PostTls,
  timeoutMs = 10_000,
): Promise<PostAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
        ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
        ...(tls.ca ? { ca: [...rootCertificates, tls.ca] } : {}),
        // One connection per message: no TLS session of another identity is reused.
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER_BYTES)
            res.destroy(new Error(`answer larger than ${String(MAX_ANSWER_BYTES)} bytes`));
          else chunks.push(c);
        });
        res.on("error", reject);
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ ok: status >= 200 && status < 300, status, text: () => Promise.resolve(text) });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${String(timeoutMs)} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}
