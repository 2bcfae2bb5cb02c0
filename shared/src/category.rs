//! The categories: one bus each. Adding one means a line in
//! `Category`'s list, its rules in `config/rules.toml`, its bus in
//! `template.yaml`; docs/architecture.md lists the rest.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

named_enum! {
    /// The category buses, one per category.
    #[derive(
        Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
    )]
    pub enum Category {
        Identity => "identity",
        Network => "network",
        Data => "data",
        Compute => "compute",
        Audit => "audit",
        Governance => "governance",
        Other => "other",
    }
}

impl Category {
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
