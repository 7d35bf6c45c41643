import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

import { freePort } from "./ports.js";
import { ManagedProcess, waitUntil } from "./process.js";

// Combined log format: "GET /v2/<name>/blobs/sha256:<hex> HTTP/1.1" <status> <bytes>
const BLOB_GET_LOG = /"GET \/v2\/\S+\/blobs\/sha256:[a-f0-9]{64}\S* HTTP\/[\d.]+" 20[06] (\d+)/;

/** A real CNCF distribution registry (Debian's docker-registry) on a free loopback port. */
export class Registry {
  private proc?: ManagedProcess;
  readonly url: string;
  /** Bytes of blob GET responses the registry wrote, from its access log. */
  blobBytesServed = 0;

  private constructor(private readonly dir: string, readonly port: number) {
    this.url = `http://127.0.0.1:${port}`;
  }

  /** host:port, as skopeo and image references want it. */
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  /**
   * `auth: "silly"` makes distribution challenge every request without an Authorization header
   * (401 + WWW-Authenticate) and accept any that has one: a real registry that demands auth.
   */
  static async start(runDir: string, opts: { auth?: "silly"; name?: string } = {}): Promise<Registry> {
    const r = new Registry(path.join(runDir, opts.name ?? "registry"), await freePort());
    mkdirSync(r.dir, { recursive: true });
    writeFileSync(path.join(r.dir, "config.yml"), [
      "version: 0.1",
      "log: { level: warn }",
      `storage: { filesystem: { rootdirectory: ${path.join(r.dir, "data")} }, delete: { enabled: true } }`,
      `http: { addr: 127.0.0.1:${r.port} }`,
      ...(opts.auth === "silly" ? ['auth: { silly: { realm: "http://127.0.0.1:1/token", service: "ndnreg-test" } }'] : []),
    ].join("\n"));
    await r.startProcess();
    return r;
  }

  async startProcess(): Promise<void> {
    this.proc = new ManagedProcess("registry", "docker-registry", ["serve", path.join(this.dir, "config.yml")],
      { logFile: path.join(this.dir, "registry.log") });
    this.proc.subscribe((line) => {
      const m = BLOB_GET_LOG.exec(line);
      if (m) {
        this.blobBytesServed += Number(m[1]);
      }
    });
    await waitUntil("registry /v2/", async () => [200, 401].includes((await fetch(`${this.url}/v2/`)).status));
  }

  async stop(): Promise<void> {
    await this.proc?.stop();
  }
}
