//! The AWS calls of every function and of each command that runs under a
//! deployed role, written to `tests/iam/aws-calls.json` for the flow test
//! (`tests/templates/test_iam_flows.py`), which turns each into IAM requests
//! and has them judged against the templates. The file is kept equal to the
//! code by the test below (`TRAILRELAY_BLESS=1` rewrites it).

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};
    use trailrelay_adapters::calls::{Call, ALL};

    fn apis(calls: &[Call]) -> Value {
        calls.iter().map(|c| c.api).collect()
    }

    fn document() -> Value {
        let adapters: Map<String, Value> = ALL
            .iter()
            .map(|c| (c.api.to_owned(), json!(c.actions)))
            .collect();
        json!({
            "adapters": adapters,
            "principals": {
                "enricher": apis(trailrelay_enricher::AWS_CALLS),
                "account-sync": apis(trailrelay_account_sync::AWS_CALLS),
                "path-check": apis(trailrelay_path_check::AWS_CALLS),
                "reconciler": apis(trailrelay_reconciler::AWS_CALLS),
                "doctor-member": apis(crate::doctor::MEMBER_ROLE_CALLS),
                "doctor-consumer": apis(crate::doctor::CONSUMER_ROLE_CALLS),
                "send-test-event-member": apis(crate::send_test::MEMBER_ROLE_CALLS),
            },
        })
    }

    #[test]
    fn the_flow_tests_list_of_calls_is_the_codes() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/iam/aws-calls.json");
        let wanted = serde_json::to_string_pretty(&document()).expect("json") + "\n";
        if std::env::var_os("TRAILRELAY_BLESS").is_some() {
            std::fs::write(path, &wanted).expect("write aws-calls.json");
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == wanted,
            "tests/iam/aws-calls.json differs from the code's calls: run \
             `TRAILRELAY_BLESS=1 cargo test -p trailrelay aws_calls` and commit it"
        );
    }

    #[test]
    fn every_call_names_its_service_and_at_least_one_action_of_that_service() {
        for call in ALL {
            let (service, operation) = call.api.split_once(':').expect("service:Operation");
            assert!(!operation.is_empty(), "{}", call.api);
            assert!(!call.actions.is_empty(), "{}", call.api);
            for action in call.actions {
                assert!(
                    action.starts_with(&format!("{service}:")),
                    "{}: {action}",
                    call.api
                );
            }
        }
    }
}
