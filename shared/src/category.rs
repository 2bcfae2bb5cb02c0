//! The categories: one bus each. Adding one means a variant here (and in
//! `ALL`, `as_str`), its rules in `config/rules.toml`, its bus in
//! `template.yaml`; docs/architecture.md lists the rest.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The category buses, one per category.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Identity,
    Network,
    Data,
    Compute,
    Audit,
    Governance,
    Other,
}

impl Category {
    /// How many categories (and category buses) there are.
    pub const COUNT: usize = 7;

    pub const ALL: [Category; Category::COUNT] = [
        Category::Identity,
        Category::Network,
        Category::Data,
        Category::Compute,
        Category::Audit,
        Category::Governance,
        Category::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Identity => "identity",
            Category::Network => "network",
            Category::Data => "data",
            Category::Compute => "compute",
            Category::Audit => "audit",
            Category::Governance => "governance",
            Category::Other => "other",
        }
    }

    /// Position in [`Category::ALL`], for per-category arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_is_listed_once_in_its_place_and_named_as_it_serializes() {
        assert_eq!(Category::ALL.len(), Category::COUNT);
        for (i, c) in Category::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
    }
}
