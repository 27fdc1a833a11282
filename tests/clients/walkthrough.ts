// The README walkthrough typed with openapi-typescript's output (its defaults): it must
// type-check with `tsc --strict`. tests/clients/run generates ./daap.d.ts and compiles this.
import type { components, paths } from "./daap";

type Problem = components["schemas"]["Problem"];
type Create = paths["/v1/data-products"]["post"];
type PutTable = paths["/v1/data-products/{name}/schemas/{table}"]["put"];
type Versions = paths["/v1/data-products/{name}/versions"]["get"];
type CreateUpload = paths["/v1/data-products/{name}/schemas/{table}/uploads"]["post"];
type Feed = paths["/v1/events"]["get"];

const base = process.env.DAAP_URL ?? "http://127.0.0.1:8080";
const auth = { Authorization: `Bearer ${process.env.DAAP_TOKEN ?? ""}` };

async function call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(base + path, {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { "Content-Type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as T };
}

export async function walkthrough(name: string): Promise<void> {
  const create: Create["requestBody"]["content"]["application/json"] = {
    name,
    description: "Incidents recorded in prisons",
    domain: "HMPPS",
    dataProductOwner: "jane.doe@justice.gov.uk",
    dataProductOwnerDisplayName: "Jane Doe",
    email: "data-team@justice.gov.uk",
    retentionPeriod: 3650,
    dpiaRequired: false,
    status: "draft",
    tags: { team: "incidents" },
  };
  const created = await call<Create["responses"][201]["content"]["application/json"] | Problem>(
    "POST", "/v1/data-products", create);
  const etag: Create["responses"][201]["headers"]["ETag"] = created.headers.get("ETag") ?? "";
  const location: Create["responses"][201]["headers"]["Location"] = created.headers.get("Location") ?? "";
  if (created.status === 409) {
    const problem = created.json as Create["responses"][409]["content"]["application/problem+json"];
    const kind: string = problem.type;
    console.log(kind, problem.detail ?? "");
  }

  const table: PutTable["requestBody"]["content"]["application/json"] = {
    tableDescription: "One row per incident",
    columns: [
      { name: "incident_id", type: "bigint", description: "Incident key", nullable: false },
      { name: "occurred_at", type: "timestamp", description: "When it happened", nullable: true },
    ],
    expectedChange: "minor",
  };
  const put = await call<PutTable["responses"][201]["content"]["application/json"]>(
    "PUT", `/v1/data-products/${name}/schemas/incidents`, table, { "If-Match": etag });
  const changeType: "none" | "minor" | "major" = put.json.changeType;
  const newTag: PutTable["responses"][201]["headers"]["ETag"] = put.headers.get("ETag") ?? "";

  const versions = await call<Versions["responses"][200]["content"]["application/json"]>(
    "GET", `/v1/data-products/${name}/versions`);
  const numbers: string[] = versions.json.items.map((v) => v.version);
  const when: string = versions.json.items[0].createdAt;

  const upload: CreateUpload["requestBody"]["content"]["application/json"] = {
    filename: "incidents.csv",
    contentLength: 58,
    contentMd5: "1B2M2Y8AsgTpgAmY7PhCfg==",
  };
  const pending = await call<CreateUpload["responses"][201]["content"]["application/json"]>(
    "POST", `/v1/data-products/${name}/schemas/incidents/uploads`, upload);
  const status: "pending" | "received" | "validated" | "rejected" | "expired" = pending.json.status;

  const type: NonNullable<NonNullable<Feed["parameters"]["query"]>["type"]> = "schema.created";
  const feed = await call<Feed["responses"][200]["content"]["application/json"]>(
    "GET", `/v1/events?type=${type}&dataProduct=${name}`);
  const eventType: components["schemas"]["EventType"] = feed.json.items[0].type;
  const replayed: Feed["responses"][400]["content"]["application/problem+json"]["status"] = 400;
  console.log(location, changeType, newTag, numbers, when, status, eventType, replayed);
}
