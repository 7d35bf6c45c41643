import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

import { httpStatusIn } from "./netns.js";
import { freePort } from "./ports.js";
import { ManagedProcess } from "./process.js";
import { TokenIssuer } from "./token-issuer.js";

export type RegistryAuth = "silly" | "token";

export interface RegistryOptions {
  readonly auth?: RegistryAuth;
  readonly name?: string;
  /** Run inside this network namespace, listening on all its addresses (default: loopback here). */
  readonly netns?: string;
  /** The address `url` and `host` name (with `netns`: one of the namespace's addresses). */
  readonly host?: string;
  /** A pull-through cache of this registry (distribution's proxy mode) instead of a store of its own. */
  readonly proxyRemoteUrl?: string;
}

/** The account the tests push with when the registry wants token auth. */
const TEST_ACCOUNT = { username: "tester", password: "secret" } as const;

// Combined log format: "GET /v2/<name>/blobs/sha256:<hex> HTTP/1.1" <status> <bytes>
const BLOB_GET_LOG = /"GET \/v2\/\S+\/blobs\/sha256:[a-f0-9]{64}\S* HTTP\/[\d.]+" 20[06] (\d+)/;
const BLOB_HEAD_LOG = /"HEAD \/v2\/\S+\/blobs\/sha256:[a-f0-9]{64}\S* HTTP\/[\d.]+" \d{3} /;
const MANIFEST_HEAD_LOG = /"HEAD \/v2\/\S+\/manifests\/sha256:[a-f0-9]{64}\S* HTTP\/[\d.]+" \d{3} /;

/** A real CNCF distribution registry (Debian's docker-registry) on a free loopback port. */
export class Registry {
  private proc?: ManagedProcess;

  /** The registry process (for CPU figures in the bench). */
  get pid(): number | undefined {
    return this.proc?.child.pid;
  }
  readonly url: string;
  /** Bytes of blob GET responses the registry wrote, from its access log. */
  blobBytesServed = 0;
  /** Blob HEAD requests the registry answered (any status), from its access log. */
  blobHeads = 0;
  /** HEADs of manifests by digest (the server's lookup of a digest that is not a blob of the repository). */
  manifestHeads = 0;
  /** With `auth: "token"`: the realm that issues the registry's tokens. */
  tokenIssuer?: TokenIssuer;

  private constructor(private readonly dir: string, readonly port: number, private readonly address: string, private readonly netns?: string) {
    this.url = `http://${address}:${port}`;
  }

  /** skopeo's --creds for pushes, when the registry wants them. */
  get pushCreds(): string | undefined {
    return this.tokenIssuer ? `${TEST_ACCOUNT.username}:${TEST_ACCOUNT.password}` : undefined;
  }

  /** host:port, as skopeo and image references want it. */
  get host(): string {
    return `${this.address}:${this.port}`;
  }

  /**
   * `auth: "silly"` makes distribution challenge every request without an Authorization header
   * (401 + WWW-Authenticate) and accept any that has one: a real registry that demands auth.
   * `auth: "token"` is the Docker token flow as Docker Hub and GHCR run it: every request, even an
   * anonymous pull, needs a JWT from the realm (`tokenIssuer`), verified with its certificate.
   */
  static async start(runDir: string, opts: RegistryOptions = {}): Promise<Registry> {
    const r = new Registry(path.join(runDir, opts.name ?? "registry"), await freePort(), opts.host ?? "127.0.0.1", opts.netns);
    mkdirSync(r.dir, { recursive: true });
    if (opts.auth === "token") {
      r.tokenIssuer = await TokenIssuer.start(path.join(r.dir, "token-issuer"), {
        service: "ndnreg-test", users: { [TEST_ACCOUNT.username]: TEST_ACCOUNT.password },
      });
    }
    const issuer = r.tokenIssuer;
    writeFileSync(path.join(r.dir, "config.yml"), [
      "version: 0.1",
      "log: { level: warn }",
      `storage: { filesystem: { rootdirectory: ${path.join(r.dir, "data")} }, delete: { enabled: true } }`,
      `http: { addr: ${opts.netns ? "0.0.0.0" : "127.0.0.1"}:${r.port} }`,
      ...(opts.proxyRemoteUrl ? [`proxy: { remoteurl: "${opts.proxyRemoteUrl}" }`] : []),
      ...(opts.auth === "silly" ? ['auth: { silly: { realm: "http://127.0.0.1:1/token", service: "ndnreg-test" } }'] : []),
      ...(issuer ? [`auth: { token: { realm: "${issuer.realm}", service: "${issuer.service}", issuer: "${issuer.issuer}", rootcertbundle: "${issuer.certFile}" } }`] : []),
    ].join("\n"));
    await r.startProcess();
    return r;
  }

  async startProcess(): Promise<void> {
    this.proc = new ManagedProcess("registry", "docker-registry", ["serve", path.join(this.dir, "config.yml")],
      { logFile: path.join(this.dir, "registry.log"), netns: this.netns });
    this.proc.subscribe((line) => {
      const m = BLOB_GET_LOG.exec(line);
      if (m) {
        this.blobBytesServed += Number(m[1]);
      } else if (BLOB_HEAD_LOG.test(line)) {
        ++this.blobHeads;
      } else if (MANIFEST_HEAD_LOG.test(line)) {
        ++this.manifestHeads;
      }
    });
    const netns = this.netns;
    const status = netns ? () => httpStatusIn(netns, `${this.url}/v2/`) : async () => (await fetch(`${this.url}/v2/`)).status;
    await this.proc.waitUntil("registry /v2/ answered", async () => [200, 401].includes(await status()));
  }

  /** Stop and start the registry process only (it reads its config and certificates again). */
  async restartProcess(): Promise<void> {
    await this.proc?.stop();
    await this.startProcess();
  }

  async stop(): Promise<void> {
    await this.proc?.stop();
    await this.tokenIssuer?.stop();
  }
}
