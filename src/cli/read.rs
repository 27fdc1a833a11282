//! The read commands: `get`, `ls`, `versions`, `diff`, `export`. Each is one API read (or
//! one list followed page by page), printed as text or, with `--json`, as the API's JSON.
use clap::{Args, ValueEnum};
use reqwest::Method;
use serde_json::Value;

use super::{
    Connection, EXIT_OK,
    client::{CliError, Client, encode, query},
    output::{change_line, clip, print_json, table, text},
};

#[derive(Debug, Args)]
pub struct GetArgs {
    /// The data product's name.
    pub product: String,
    /// A version selector: `v1.2`, `v1` (latest in major 1) or `latest`.
    #[arg(long, default_value = "latest")]
    pub version: String,
    /// Show this table's columns instead of the product.
    #[arg(long)]
    pub table: Option<String>,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only products of this domain.
    #[arg(long)]
    pub domain: Option<String>,
    /// Only products with this status (`draft`, `published`, `deprecated`, `retired`).
    #[arg(long)]
    pub status: Option<String>,
    /// Only products of this owner (e-mail, case-insensitive).
    #[arg(long)]
    pub owner: Option<String>,
    /// Only products with this tag (`key` or `key:value`).
    #[arg(long)]
    pub tag: Option<String>,
    /// Only products whose name or description contains this text.
    #[arg(long, short = 'q')]
    pub query: Option<String>,
    /// List soft-deleted products too.
    #[arg(long)]
    pub include_deleted: bool,
    /// At most this many products (default: all).
    #[arg(long)]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(Debug, Args)]
pub struct VersionsArgs {
    /// The data product's name.
    pub product: String,
    /// At most this many versions, newest first (default: all).
    #[arg(long)]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The data product's name.
    pub product: String,
    /// The version to compare from (`v1.0`, `v1`, `latest`).
    pub from: String,
    /// The version to compare to.
    pub to: String,
    #[command(flatten)]
    pub conn: Connection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Yaml,
    Json,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The data product's name.
    pub product: String,
    /// A version selector: `v1.2`, `v1` or `latest`.
    #[arg(long, default_value = "latest")]
    pub version: String,
    /// The contract's format (`--json` means json too).
    #[arg(long, value_enum, default_value_t = ExportFormat::Yaml)]
    pub format: ExportFormat,
    /// Export this table's row JSON Schema instead of the ODCS contract.
    #[arg(long)]
    pub table: Option<String>,
    #[command(flatten)]
    pub conn: Connection,
}

fn product_path(product: &str) -> String {
    format!("/v1/data-products/{}", encode(product))
}

pub async fn get(args: GetArgs) -> Result<i32, CliError> {
    let client = Client::new(&args.conn)?;
    let base = format!("{}/versions/{}", product_path(&args.product), encode(&args.version));
    let body: Value = match &args.table {
        Some(t) => client.get(&format!("{base}/schemas/{}", encode(t))).await?,
        None => client.get(&base).await?,
    };
    if args.conn.json {
        print_json(&body);
        return Ok(EXIT_OK);
    }
    if args.table.is_some() {
        println!("{}  {}", text(&body["name"]), text(&body["id"]));
        println!("{}", text(&body["tableDescription"]));
        println!();
        let rows: Vec<Vec<String>> = body["columns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                vec![
                    text(&c["name"]),
                    text(&c["type"]),
                    if c["nullable"] == Value::Bool(false) { "not null" } else { "null" }.to_owned(),
                    clip(&text(&c["description"]), 60),
                ]
            })
            .collect();
        print!("{}", table(&["COLUMN", "TYPE", "NULLS", "DESCRIPTION"], &rows));
        return Ok(EXIT_OK);
    }
    let mut fields: Vec<(&str, String)> = vec![
        ("name", text(&body["name"])),
        ("version", format!("{}  ({})", text(&body["version"]), text(&body["versionId"]))),
        ("description", text(&body["description"])),
        ("domain", text(&body["domain"])),
        ("status", text(&body["status"])),
        ("owner", format!("{} <{}>", text(&body["dataProductOwnerDisplayName"]), text(&body["dataProductOwner"]))),
    ];
    if body.get("dataProductMaintainer").is_some() {
        fields.push((
            "maintainer",
            format!("{} <{}>", text(&body["dataProductMaintainerDisplayName"]), text(&body["dataProductMaintainer"])),
        ));
    }
    fields.push(("email", text(&body["email"])));
    fields.push(("retention", format!("{} days", text(&body["retentionPeriod"]))));
    let dpia = if body["dpiaRequired"] == Value::Bool(true) { "required" } else { "not required" };
    let dpia = match body.get("dpiaLocation") {
        Some(loc) => format!("{dpia} ({})", text(loc)),
        None => dpia.to_owned(),
    };
    fields.push(("dpia", dpia));
    if let Some(tags) = body["tags"].as_object().filter(|t| !t.is_empty()) {
        fields.push(("tags", tags.iter().map(|(k, v)| format!("{k}={}", text(v))).collect::<Vec<_>>().join(", ")));
    }
    fields.push(("created", format!("{} by {}", text(&body["createdAt"]), text(&body["createdBy"]))));
    fields.push(("updated", format!("{} by {}", text(&body["updatedAt"]), text(&body["updatedBy"]))));
    if let Some(deleted) = body.get("deletedAt") {
        fields.push(("deleted", text(deleted)));
    }
    let tables: Vec<String> = body["schemas"].as_array().into_iter().flatten().map(|s| text(&s["name"])).collect();
    fields.push(("tables", if tables.is_empty() { "(none)".to_owned() } else { tables.join(", ") }));
    for (k, v) in fields {
        println!("{:<12} {v}", format!("{k}:"));
    }
    Ok(EXIT_OK)
}

pub async fn ls(args: LsArgs) -> Result<i32, CliError> {
    let client = Client::new(&args.conn)?;
    let q = query(&[
        ("domain", args.domain.clone()),
        ("status", args.status.clone()),
        ("owner", args.owner.clone()),
        ("tag", args.tag.clone()),
        ("q", args.query.clone()),
        ("includeDeleted", args.include_deleted.then(|| "true".to_owned())),
    ]);
    let items = client.all_pages("/v1/data-products", &q, args.limit).await?;
    if args.conn.json {
        print_json(&Value::Array(items));
        return Ok(EXIT_OK);
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|p| {
            let mut status = text(&p["status"]);
            if p.get("deletedAt").is_some() {
                status.push_str(" (deleted)");
            }
            vec![text(&p["name"]), text(&p["version"]), text(&p["domain"]), status, clip(&text(&p["description"]), 60)]
        })
        .collect();
    print!("{}", table(&["NAME", "VERSION", "DOMAIN", "STATUS", "DESCRIPTION"], &rows));
    Ok(EXIT_OK)
}

pub async fn versions(args: VersionsArgs) -> Result<i32, CliError> {
    let client = Client::new(&args.conn)?;
    let items = client.all_pages(&format!("{}/versions", product_path(&args.product)), "", args.limit).await?;
    if args.conn.json {
        print_json(&Value::Array(items));
        return Ok(EXIT_OK);
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|v| {
            let changes = v["changes"].as_array().cloned().unwrap_or_default();
            let summary = match changes.as_slice() {
                [] => "-".to_owned(),
                [only] => text(&only["message"]),
                [first, rest @ ..] => format!("{} (+{} more)", text(&first["message"]), rest.len()),
            };
            vec![
                text(&v["version"]),
                text(&v["changeType"]),
                text(&v["createdAt"]),
                text(&v["createdBy"]),
                clip(&summary, 70),
            ]
        })
        .collect();
    print!("{}", table(&["VERSION", "CHANGE", "CREATED", "BY", "CHANGES"], &rows));
    Ok(EXIT_OK)
}

pub async fn diff(args: DiffArgs) -> Result<i32, CliError> {
    let client = Client::new(&args.conn)?;
    let path = format!(
        "{}/compare?{}",
        product_path(&args.product),
        query(&[("from", Some(args.from.clone())), ("to", Some(args.to.clone()))])
    );
    let body: Value = client.get(&path).await?;
    if args.conn.json {
        print_json(&body);
        return Ok(EXIT_OK);
    }
    let changes = body["changes"].as_array().cloned().unwrap_or_default();
    println!(
        "{} {} -> {}: {} ({} change{})",
        args.product,
        text(&body["from"]),
        text(&body["to"]),
        text(&body["changeType"]),
        changes.len(),
        if changes.len() == 1 { "" } else { "s" }
    );
    for change in &changes {
        println!("  {}", change_line(change));
    }
    Ok(EXIT_OK)
}

pub async fn export(args: ExportArgs) -> Result<i32, CliError> {
    let client = Client::new(&args.conn)?;
    let base = format!("{}/versions/{}", product_path(&args.product), encode(&args.version));
    let request = match &args.table {
        Some(t) => client.api(Method::GET, &format!("{base}/schemas/{}/json-schema", encode(t))),
        None => {
            let yaml = args.format == ExportFormat::Yaml && !args.conn.json;
            let accept = if yaml { "application/yaml" } else { "application/json" };
            client.api(Method::GET, &format!("{base}/contract")).header("Accept", accept)
        }
    };
    let resp = client.send(request).await?;
    let body =
        resp.text().await.map_err(|source| CliError::Transport { what: "reading the export".to_owned(), source })?;
    print!("{body}");
    if !body.ends_with('\n') {
        println!();
    }
    Ok(EXIT_OK)
}
