//! The versioning rules of SPEC section 3, pure and in one place.
//!
//! `diff` lists every difference between two snapshots as a classified
//! `Change`, in a fixed order, and is empty exactly when the snapshots are
//! equal up to the order of their tables. `classify` takes the strongest class,
//! so a change set is never weaker than its strongest part.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::column_type::is_widening;
use super::model::{Column, ProductMetadata, Snapshot, Table};
use super::names::{ColumnName, TableName};

/// How far a change can reach consumers; ordered `None < Minor < Major`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeClass {
    /// Nothing changed: no new version is made.
    None,
    /// Existing consumers keep working: vM.(m+1).
    Minor,
    /// Consumers may break: v(M+1).0.
    Major,
}

impl ChangeClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Minor => "minor",
            Self::Major => "major",
        }
    }

    /// The class with this exact lower-case name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::None, Self::Minor, Self::Major].into_iter().find(|class| class.as_str() == s)
    }
}

/// What kind of difference a `Change` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    MetadataChanged,
    TableAdded,
    TableRemoved,
    TableDescriptionChanged,
    ColumnAdded,
    ColumnRemoved,
    ColumnTypeChanged,
    ColumnNullabilityChanged,
    ColumnDescriptionChanged,
    ColumnsReordered,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MetadataChanged => "metadata_changed",
            Self::TableAdded => "table_added",
            Self::TableRemoved => "table_removed",
            Self::TableDescriptionChanged => "table_description_changed",
            Self::ColumnAdded => "column_added",
            Self::ColumnRemoved => "column_removed",
            Self::ColumnTypeChanged => "column_type_changed",
            Self::ColumnNullabilityChanged => "column_nullability_changed",
            Self::ColumnDescriptionChanged => "column_description_changed",
            Self::ColumnsReordered => "columns_reordered",
        }
    }
}

/// One classified difference, as reported to clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub kind: ChangeKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The camelCase metadata field, for `metadata_changed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    pub class: ChangeClass,
    pub message: String,
}

impl Change {
    fn new(kind: ChangeKind, class: ChangeClass, message: String) -> Self {
        Change { kind, table: None, column: None, field: None, before: None, after: None, class, message }
    }

    fn in_table(mut self, table: &TableName) -> Self {
        self.table = Some(table.to_string());
        self
    }

    fn on_column(mut self, column: &ColumnName) -> Self {
        self.column = Some(column.to_string());
        self
    }

    fn with_values(mut self, before: impl Into<Value>, after: impl Into<Value>) -> Self {
        self.before = Some(before.into());
        self.after = Some(after.into());
        self
    }
}

/// Every difference from `old` to `new`: metadata fields in declaration
/// order, then tables by name; within a table its description, then removed,
/// added, retyped, re-nulled and re-described columns, then a reordering.
pub fn diff(old: &Snapshot, new: &Snapshot) -> Vec<Change> {
    let mut changes = diff_metadata(&old.metadata, &new.metadata);
    changes.extend(diff_tables(&old.tables, &new.tables));
    changes
}

/// The differences between two sets of tables, by table name (as `diff` lists them).
pub fn diff_tables(old: &[Table], new: &[Table]) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut tables: BTreeMap<&TableName, (Option<&Table>, Option<&Table>)> = BTreeMap::new();
    for table in old {
        tables.entry(&table.name).or_default().0 = Some(table);
    }
    for table in new {
        tables.entry(&table.name).or_default().1 = Some(table);
    }
    for (name, pair) in tables {
        match pair {
            (Some(old_table), Some(new_table)) => diff_table(old_table, new_table, &mut changes),
            (Some(_), None) => changes.push(
                Change::new(ChangeKind::TableRemoved, ChangeClass::Major, format!("table `{name}` was removed"))
                    .in_table(name),
            ),
            // Every entry has at least one side, so this is the added table.
            (None, _) => changes.push(
                Change::new(ChangeKind::TableAdded, ChangeClass::Minor, format!("table `{name}` was added"))
                    .in_table(name),
            ),
        }
    }
    changes
}

/// The strongest class among `changes`; `None` when there are none.
pub fn classify(changes: &[Change]) -> ChangeClass {
    changes.iter().map(|change| change.class).max().unwrap_or(ChangeClass::None)
}

fn diff_metadata(old: &ProductMetadata, new: &ProductMetadata) -> Vec<Change> {
    let present = |value: Value| (!value.is_null()).then_some(value);
    old.fields_json()
        .into_iter()
        .zip(new.fields_json())
        .filter(|((_, before), (_, after))| before != after)
        .map(|((field, before), (_, after))| Change {
            field: Some(field.to_owned()),
            before: present(before),
            after: present(after),
            ..Change::new(ChangeKind::MetadataChanged, ChangeClass::Minor, format!("metadata field `{field}` changed"))
        })
        .collect()
}

fn diff_table(old: &Table, new: &Table, changes: &mut Vec<Change>) {
    let table = &new.name;
    let column_change = |kind, class, column: &ColumnName, message: String| {
        Change::new(kind, class, message).in_table(table).on_column(column)
    };

    if old.description != new.description {
        changes.push(
            Change::new(
                ChangeKind::TableDescriptionChanged,
                ChangeClass::Minor,
                format!("description of table `{table}` changed"),
            )
            .in_table(table)
            .with_values(old.description.as_str(), new.description.as_str()),
        );
    }

    let old_columns: HashMap<&ColumnName, &Column> = old.columns.iter().map(|c| (&c.name, c)).collect();
    let new_columns: HashMap<&ColumnName, &Column> = new.columns.iter().map(|c| (&c.name, c)).collect();
    // Columns in both, in their new order.
    let kept: Vec<(&Column, &Column)> =
        new.columns.iter().filter_map(|after| old_columns.get(&after.name).map(|before| (*before, after))).collect();

    for removed in old.columns.iter().filter(|c| !new_columns.contains_key(&c.name)) {
        let name = &removed.name;
        changes.push(column_change(
            ChangeKind::ColumnRemoved,
            ChangeClass::Major,
            name,
            format!("column `{name}` of table `{table}` was removed"),
        ));
    }

    for added in new.columns.iter().filter(|c| !old_columns.contains_key(&c.name)) {
        let name = &added.name;
        let (class, nullability) =
            if added.nullable { (ChangeClass::Minor, "nullable") } else { (ChangeClass::Major, "not-nullable") };
        changes.push(column_change(
            ChangeKind::ColumnAdded,
            class,
            name,
            format!("{nullability} column `{name}` was added to table `{table}`"),
        ));
    }

    for (before, after) in kept.iter().filter(|(before, after)| before.ty != after.ty) {
        let name = &after.name;
        let (from, to) = (before.ty.to_string(), after.ty.to_string());
        let (class, message) = if is_widening(&before.ty, &after.ty) {
            (ChangeClass::Minor, format!("column `{name}` of table `{table}` was widened from {from} to {to}"))
        } else {
            (ChangeClass::Major, format!("column `{name}` of table `{table}` changed type from {from} to {to}"))
        };
        changes.push(column_change(ChangeKind::ColumnTypeChanged, class, name, message).with_values(from, to));
    }

    for (before, after) in kept.iter().filter(|(before, after)| before.nullable != after.nullable) {
        let name = &after.name;
        let (class, became) =
            if after.nullable { (ChangeClass::Minor, "nullable") } else { (ChangeClass::Major, "not nullable") };
        changes.push(
            column_change(
                ChangeKind::ColumnNullabilityChanged,
                class,
                name,
                format!("column `{name}` of table `{table}` became {became}"),
            )
            .with_values(before.nullable, after.nullable),
        );
    }

    for (before, after) in kept.iter().filter(|(before, after)| before.description != after.description) {
        let name = &after.name;
        changes.push(
            column_change(
                ChangeKind::ColumnDescriptionChanged,
                ChangeClass::Minor,
                name,
                format!("description of column `{name}` of table `{table}` changed"),
            )
            .with_values(before.description.as_str(), after.description.as_str()),
        );
    }

    let kept_in_old_order = old.columns.iter().filter(|c| new_columns.contains_key(&c.name)).map(|c| &c.name);
    if !kept_in_old_order.eq(kept.iter().map(|(_, after)| &after.name)) {
        let order =
            |columns: &[Column]| -> Vec<Value> { columns.iter().map(|c| Value::from(c.name.as_str())).collect() };
        changes.push(
            Change::new(
                ChangeKind::ColumnsReordered,
                ChangeClass::Minor,
                format!("columns of table `{table}` were reordered"),
            )
            .in_table(table)
            .with_values(order(&old.columns), order(&new.columns)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::column_type::ColumnType;
    use crate::domain::model::ProductStatus;
    use proptest::prelude::*;
    use serde_json::json;

    fn column(name: &str, ty: &str, nullable: bool) -> Column {
        Column {
            name: ColumnName::parse(name).unwrap(),
            ty: ColumnType::parse(ty).unwrap(),
            description: format!("the {name} column"),
            nullable,
        }
    }

    fn table(name: &str, columns: Vec<Column>) -> Table {
        Table { name: TableName::parse(name).unwrap(), description: format!("the {name} table"), columns }
    }

    fn metadata() -> ProductMetadata {
        ProductMetadata {
            description: "Prison population".to_owned(),
            domain: "HMPPS".to_owned(),
            data_product_owner: "owner@example.com".to_owned(),
            data_product_owner_display_name: "Owner".to_owned(),
            data_product_maintainer: None,
            data_product_maintainer_display_name: None,
            email: "team@example.com".to_owned(),
            status: ProductStatus::Draft,
            retention_period: 365,
            dpia_required: false,
            dpia_location: None,
            tags: BTreeMap::new(),
        }
    }

    /// t1(a int null, b string not null, c date null) and t2(id bigint not null).
    fn base() -> Snapshot {
        Snapshot {
            metadata: metadata(),
            tables: vec![
                table("t1", vec![column("a", "int", true), column("b", "string", false), column("c", "date", true)]),
                table("t2", vec![column("id", "bigint", false)]),
            ],
        }
    }

    fn t1(snapshot: &mut Snapshot) -> &mut Table {
        &mut snapshot.tables[0]
    }

    fn t1_column<'a>(snapshot: &'a mut Snapshot, name: &str) -> &'a mut Column {
        t1(snapshot).columns.iter_mut().find(|c| c.name.as_str() == name).unwrap()
    }

    fn kinds(changes: &[Change]) -> Vec<ChangeKind> {
        changes.iter().map(|c| c.kind).collect()
    }

    struct Row {
        change: &'static str,
        edit: fn(&mut Snapshot),
        kinds: &'static [ChangeKind],
        class: ChangeClass,
    }

    #[test]
    fn each_row_of_the_spec_table_is_classified_as_written() {
        use ChangeClass::{Major, Minor};
        use ChangeKind::*;
        let rows = [
            Row {
                change: "metadata field changed: description",
                edit: |s| s.metadata.description = "Other".to_owned(),
                kinds: &[MetadataChanged],
                class: Minor,
            },
            Row {
                change: "metadata field changed: status",
                edit: |s| s.metadata.status = ProductStatus::Published,
                kinds: &[MetadataChanged],
                class: Minor,
            },
            Row {
                change: "metadata field changed: domain",
                edit: |s| s.metadata.domain = "OPG".to_owned(),
                kinds: &[MetadataChanged],
                class: Minor,
            },
            Row {
                change: "metadata field changed: an optional field set",
                edit: |s| s.metadata.dpia_location = Some("https://dpia".to_owned()),
                kinds: &[MetadataChanged],
                class: Minor,
            },
            Row {
                change: "metadata field changed: tags",
                edit: |s| {
                    s.metadata.tags.insert("k".to_owned(), "v".to_owned());
                },
                kinds: &[MetadataChanged],
                class: Minor,
            },
            Row {
                change: "table added",
                edit: |s| s.tables.push(table("t3", vec![column("x", "int", false)])),
                kinds: &[TableAdded],
                class: Minor,
            },
            Row {
                change: "table removed",
                edit: |s| s.tables.retain(|t| t.name.as_str() != "t2"),
                kinds: &[TableRemoved],
                class: Major,
            },
            Row {
                change: "tableDescription changed",
                edit: |s| t1(s).description = "Other".to_owned(),
                kinds: &[TableDescriptionChanged],
                class: Minor,
            },
            Row {
                change: "column added, nullable",
                edit: |s| t1(s).columns.push(column("d", "string", true)),
                kinds: &[ColumnAdded],
                class: Minor,
            },
            Row {
                change: "column added, not nullable",
                edit: |s| t1(s).columns.push(column("d", "string", false)),
                kinds: &[ColumnAdded],
                class: Major,
            },
            Row {
                change: "column removed",
                edit: |s| {
                    t1(s).columns.remove(2);
                },
                kinds: &[ColumnRemoved],
                class: Major,
            },
            Row {
                change: "column renamed (= removed + added)",
                edit: |s| t1_column(s, "c").name = ColumnName::parse("c2").unwrap(),
                kinds: &[ColumnRemoved, ColumnAdded],
                class: Major,
            },
            Row {
                change: "column type widened",
                edit: |s| t1_column(s, "a").ty = ColumnType::BigInt,
                kinds: &[ColumnTypeChanged],
                class: Minor,
            },
            Row {
                change: "any other type change",
                edit: |s| t1_column(s, "a").ty = ColumnType::String,
                kinds: &[ColumnTypeChanged],
                class: Major,
            },
            Row {
                change: "nullable -> not nullable",
                edit: |s| t1_column(s, "a").nullable = false,
                kinds: &[ColumnNullabilityChanged],
                class: Major,
            },
            Row {
                change: "not nullable -> nullable",
                edit: |s| t1_column(s, "b").nullable = true,
                kinds: &[ColumnNullabilityChanged],
                class: Minor,
            },
            Row {
                change: "column description changed",
                edit: |s| t1_column(s, "a").description = "Other".to_owned(),
                kinds: &[ColumnDescriptionChanged],
                class: Minor,
            },
            Row {
                change: "columns reordered",
                edit: |s| t1(s).columns.swap(0, 2),
                kinds: &[ColumnsReordered],
                class: Minor,
            },
            Row { change: "nothing changed", edit: |_| {}, kinds: &[], class: ChangeClass::None },
        ];
        for row in rows {
            let old = base();
            let mut new = base();
            (row.edit)(&mut new);
            let changes = diff(&old, &new);
            assert_eq!(kinds(&changes), row.kinds, "{}", row.change);
            assert_eq!(classify(&changes), row.class, "{}", row.change);
        }
    }

    #[test]
    fn type_changes_are_minor_only_when_they_widen_even_inside_containers() {
        use ChangeClass::{Major, Minor};
        let rows = [
            ("tinyint", "smallint", Minor),
            ("smallint", "int", Minor),
            ("int", "bigint", Minor),
            ("tinyint", "bigint", Minor),
            ("bigint", "int", Major),
            ("float", "double", Minor),
            ("decimal(10,2)", "decimal(12,2)", Minor),
            ("decimal(10,2)", "decimal(12,3)", Major),
            ("decimal(10,2)", "decimal(10,3)", Major),
            ("char(5)", "varchar(5)", Minor),
            ("varchar(5)", "varchar(10)", Minor),
            ("varchar(10)", "varchar(5)", Major),
            ("varchar(10)", "string", Minor),
            ("char(5)", "string", Minor),
            ("int", "string", Major),
            ("date", "timestamp", Major),
            ("array<int>", "array<bigint>", Minor),
            ("map<string,int>", "map<string,bigint>", Minor),
            ("map<string,int>", "map<varchar(10),int>", Major),
            ("map<int,string>", "map<bigint,string>", Major),
            ("struct<a:int>", "struct<a:int,b:string>", Minor),
            ("struct<a:int>", "struct<z:string,a:int>", Minor),
            ("struct<a:int,b:string>", "struct<a:int>", Major),
            ("struct<a:int,b:string>", "struct<b:string,a:int>", Minor),
            ("struct<a:int>", "struct<a:bigint>", Minor),
        ];
        for (from, to, class) in rows {
            let mut old = base();
            t1_column(&mut old, "a").ty = ColumnType::parse(from).unwrap();
            let mut new = old.clone();
            t1_column(&mut new, "a").ty = ColumnType::parse(to).unwrap();
            let changes = diff(&old, &new);
            assert_eq!(kinds(&changes), [ChangeKind::ColumnTypeChanged], "{from} -> {to}");
            let change = &changes[0];
            assert_eq!(change.class, class, "{from} -> {to}");
            assert_eq!(change.column.as_deref(), Some("a"));
            assert_eq!(change.before, Some(json!(from)));
            assert_eq!(change.after, Some(json!(to)));
        }
    }

    #[test]
    fn a_metadata_change_names_its_field_and_omits_absent_values() {
        let old = base();
        let mut new = base();
        new.metadata.data_product_maintainer = Some("m@example.com".to_owned());
        new.metadata.retention_period = 30;
        let changes = diff(&old, &new);
        let fields: Vec<_> = changes.iter().map(|c| c.field.as_deref()).collect();
        assert_eq!(fields, [Some("dataProductMaintainer"), Some("retentionPeriod")]);
        assert_eq!(changes[0].before, None);
        assert_eq!(changes[0].after, Some(json!("m@example.com")));
        assert_eq!(changes[1].before, Some(json!(365)));
        assert_eq!(changes[1].after, Some(json!(30)));
        assert!(changes.iter().all(|c| c.table.is_none() && c.column.is_none()));
    }

    #[test]
    fn changes_come_in_a_fixed_order() {
        let old = base();
        let mut new = base();
        new.tables.reverse();
        new.tables.retain(|t| t.name.as_str() != "t2");
        new.tables.push(table("t0", vec![column("x", "int", true)]));
        let t1 = new.tables.iter_mut().find(|t| t.name.as_str() == "t1").unwrap();
        t1.description = "Other".to_owned();
        t1.columns = vec![
            column("z", "int", true),
            Column { description: "Other".to_owned(), ..column("c", "date", false) },
            column("a", "bigint", true),
        ];
        new.metadata.email = "new@example.com".to_owned();
        new.metadata.description = "Other".to_owned();

        let summary: Vec<_> = diff(&old, &new).into_iter().map(|c| (c.kind, c.field.or(c.table), c.column)).collect();
        let s = |v: &str| Some(v.to_owned());
        use ChangeKind::*;
        assert_eq!(
            summary,
            [
                (MetadataChanged, s("description"), None),
                (MetadataChanged, s("email"), None),
                (TableAdded, s("t0"), None),
                (TableDescriptionChanged, s("t1"), None),
                (ColumnRemoved, s("t1"), s("b")),
                (ColumnAdded, s("t1"), s("z")),
                (ColumnTypeChanged, s("t1"), s("a")),
                (ColumnNullabilityChanged, s("t1"), s("c")),
                (ColumnDescriptionChanged, s("t1"), s("c")),
                (ColumnsReordered, s("t1"), None),
                (TableRemoved, s("t2"), None),
            ]
        );
    }

    #[test]
    fn changes_carry_human_messages_and_before_after_values() {
        let old = base();
        let mut new = base();
        t1(&mut new).columns.remove(0);
        t1_column(&mut new, "b").nullable = true;
        t1(&mut new).columns.swap(0, 1);
        let changes = diff(&old, &new);
        let messages: Vec<_> = changes.iter().map(|c| c.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "column `a` of table `t1` was removed",
                "column `b` of table `t1` became nullable",
                "columns of table `t1` were reordered",
            ]
        );
        assert_eq!(changes[1].before, Some(json!(false)));
        assert_eq!(changes[1].after, Some(json!(true)));
        assert_eq!(changes[2].before, Some(json!(["a", "b", "c"])));
        assert_eq!(changes[2].after, Some(json!(["c", "b"])));
    }

    #[test]
    fn a_change_serializes_in_camel_case_without_absent_fields() {
        let mut new = base();
        t1_column(&mut new, "a").ty = ColumnType::BigInt;
        let change = diff(&base(), &new).remove(0);
        let wire = json!({
            "kind": "column_type_changed",
            "table": "t1",
            "column": "a",
            "before": "int",
            "after": "bigint",
            "class": "minor",
            "message": "column `a` of table `t1` was widened from int to bigint",
        });
        assert_eq!(serde_json::to_value(&change).unwrap(), wire);
        assert_eq!(serde_json::from_value::<Change>(wire).unwrap(), change);
    }

    #[test]
    fn table_order_alone_is_no_change() {
        let mut new = base();
        new.tables.reverse();
        assert!(diff(&base(), &new).is_empty());
    }

    #[test]
    fn classes_order_none_minor_major_and_parse_by_name() {
        assert!(ChangeClass::None < ChangeClass::Minor && ChangeClass::Minor < ChangeClass::Major);
        for class in [ChangeClass::None, ChangeClass::Minor, ChangeClass::Major] {
            assert_eq!(ChangeClass::parse(class.as_str()), Some(class));
            assert_eq!(serde_json::to_value(class).unwrap(), json!(class.as_str()));
        }
        assert_eq!(ChangeClass::parse("Major"), None);
        assert_eq!(classify(&[]), ChangeClass::None);
    }

    #[test]
    fn kinds_render_as_their_wire_names() {
        for kind in [ChangeKind::MetadataChanged, ChangeKind::ColumnsReordered, ChangeKind::ColumnNullabilityChanged] {
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
        }
    }

    const TYPES: &[&str] = &[
        "tinyint",
        "int",
        "bigint",
        "string",
        "varchar(10)",
        "char(5)",
        "decimal(10,2)",
        "decimal(12,2)",
        "date",
        "timestamp",
        "array<int>",
        "array<bigint>",
        "map<string,int>",
        "struct<a:int>",
        "struct<a:int,b:string>",
        "struct<b:string,a:int>",
    ];

    fn arb_type() -> impl Strategy<Value = ColumnType> {
        prop::sample::select(TYPES).prop_map(|ty| ColumnType::parse(ty).unwrap())
    }

    fn arb_column(name: String) -> impl Strategy<Value = Column> {
        (arb_type(), prop::sample::select(&["x", "y"][..]), any::<bool>()).prop_map(
            move |(ty, description, nullable)| Column {
                name: ColumnName::parse(&name).unwrap(),
                ty,
                description: description.to_owned(),
                nullable,
            },
        )
    }

    prop_compose! {
        fn arb_table(name: String)(
            description in prop::sample::select(&["x", "y"][..]),
            columns in prop::sample::subsequence(vec!["a", "b", "c", "d"], 1..=4)
                .prop_flat_map(|names| names.into_iter().map(|n| arb_column(n.to_owned())).collect::<Vec<_>>())
                .prop_shuffle(),
        ) -> Table {
            Table { name: TableName::parse(&name).unwrap(), description: description.to_owned(), columns }
        }
    }

    prop_compose! {
        fn arb_metadata()(
            description in prop::sample::select(&["d1", "d2"][..]),
            domain in prop::sample::select(&["HMPPS", "OPG"][..]),
            maintainer in prop::option::of(Just("m@example.com")),
            status in prop::sample::select(&[ProductStatus::Draft, ProductStatus::Published, ProductStatus::Retired][..]),
            retention_period in 0u32..3,
            dpia_required in any::<bool>(),
            tags in prop::collection::btree_map(prop::sample::select(&["k1", "k2"][..]), prop::sample::select(&["v1", "v2"][..]), 0..2),
        ) -> ProductMetadata {
            ProductMetadata {
                description: description.to_owned(),
                domain: domain.to_owned(),
                data_product_maintainer: maintainer.map(str::to_owned),
                status,
                retention_period,
                dpia_required,
                tags: tags.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
                ..metadata()
            }
        }
    }

    prop_compose! {
        /// Tables come sorted by name, so `==` is the equality `diff` sees.
        fn arb_snapshot()(
            metadata in arb_metadata(),
            tables in prop::sample::subsequence(vec!["t1", "t2", "t3"], 0..=3)
                .prop_flat_map(|names| names.into_iter().map(|n| arb_table(n.to_owned())).collect::<Vec<_>>()),
        ) -> Snapshot {
            Snapshot { metadata, tables }
        }
    }

    /// Either `snapshot` itself or an arbitrary one, so equal pairs are common.
    fn same_or_other(snapshot: Snapshot) -> impl Strategy<Value = Snapshot> {
        prop_oneof![Just(snapshot), arb_snapshot()]
    }

    proptest! {
        #[test]
        fn a_snapshot_never_differs_from_itself(a in arb_snapshot()) {
            prop_assert_eq!(diff(&a, &a), vec![]);
            let mut shuffled = a.clone();
            shuffled.tables.reverse();
            prop_assert_eq!(diff(&a, &shuffled), vec![]);
        }

        #[test]
        fn adding_a_nullable_column_is_never_major(
            (a, table_index, position) in arb_snapshot()
                .prop_filter("needs a table", |s| !s.tables.is_empty())
                .prop_flat_map(|s| {
                    let tables = s.tables.len();
                    (Just(s), 0..tables, 0..=4usize)
                }),
            ty in arb_type(),
        ) {
            let mut b = a.clone();
            let columns = &mut b.tables[table_index].columns;
            let position = position.min(columns.len());
            columns.insert(position, Column {
                name: ColumnName::parse("added").unwrap(),
                ty,
                description: "new".to_owned(),
                nullable: true,
            });
            let changes = diff(&a, &b);
            prop_assert_eq!(kinds(&changes), vec![ChangeKind::ColumnAdded]);
            prop_assert_eq!(classify(&changes), ChangeClass::Minor);
        }

        #[test]
        fn a_change_set_is_never_weaker_than_any_of_its_parts(a in arb_snapshot(), b in arb_snapshot()) {
            let changes = diff(&a, &b);
            let class = classify(&changes);
            prop_assert!(changes.iter().all(|change| class >= change.class));
            prop_assert_eq!(changes.is_empty(), class == ChangeClass::None);
        }

        #[test]
        fn a_diff_is_empty_exactly_when_the_snapshots_are_equal(
            (a, b) in arb_snapshot().prop_flat_map(|a| (Just(a.clone()), same_or_other(a))),
        ) {
            prop_assert_eq!(diff(&a, &b).is_empty(), a == b);
        }

        #[test]
        fn a_chain_of_two_unchanged_steps_changes_nothing(
            (a, b, c) in arb_snapshot()
                .prop_flat_map(|a| (Just(a.clone()), same_or_other(a)))
                .prop_flat_map(|(a, b)| (Just(a), Just(b.clone()), same_or_other(b))),
        ) {
            let unchanged = |x: &Snapshot, y: &Snapshot| classify(&diff(x, y)) == ChangeClass::None;
            if unchanged(&a, &b) && unchanged(&b, &c) {
                prop_assert_eq!(&a, &b);
                prop_assert_eq!(&b, &c);
            }
        }
    }
}
