//! The reader's wiring against a deployment held in memory: which names it
//! reads, which accounts and regions it reads them in, and that a missing
//! piece is a finding, never a crash.

use super::reads::Deployment;
use super::*;
use std::collections::BTreeMap;
use trailrelay_adapters::cloudtrail::Trail;
use trailrelay_adapters::ec2::VpcDns;
use trailrelay_adapters::eventbridge::{Bus, Rule};
use trailrelay_adapters::iam::Role;
use trailrelay_adapters::lambda::FunctionConfiguration;
use trailrelay_adapters::sqs::Queue;
use trailrelay_adapters::Error;

const SECURITY: &str = "222222222222";
const MEMBER_ROLE: &str = "arn:aws:iam::333333333333:role/trailrelay-doctor";
const CONSUMER_ROLE: &str = "arn:aws:iam::444444444444:role/trailrelay-consumer-doctor";

/// One account: what it holds, per region where AWS keeps it per region.
#[derive(Clone, Default)]
struct Fake {
    region: String,
    buses: BTreeMap<String, Bus>,
    /// (region, bus, rule)
    rules: BTreeMap<(String, String, String), Rule>,
    queues: BTreeMap<String, Queue>,
    functions: BTreeMap<String, BTreeMap<String, String>>,
    /// The VPC each function runs in, and each VPC's DNS settings.
    function_vpcs: BTreeMap<String, String>,
    vpcs: BTreeMap<String, VpcDns>,
    roles: BTreeMap<String, Role>,
    /// Object keys per bucket.
    objects: BTreeMap<String, Vec<String>>,
    /// The accounts behind roles this one may assume.
    others: BTreeMap<String, Fake>,
}

fn missing(api: &'static str) -> Error {
    Error {
        api,
        code: Some("ResourceNotFoundException".into()),
        detail: "not found".into(),
    }
}

impl Deployment for Fake {
    fn region(&self) -> Option<String> {
        Some(self.region.clone())
    }
    fn in_region(&self, region: &str) -> Self {
        Fake {
            region: region.to_owned(),
            ..self.clone()
        }
    }
    async fn assume(&self, role_arn: &str) -> Self {
        let mut other = self.others.get(role_arn).cloned().unwrap_or_default();
        other.region = self.region.clone();
        other
    }
    async fn organization(&self) -> Result<Organization, Error> {
        Ok(Organization {
            id: Some("o-exampleorgid".into()),
            management_account: Some("111111111111".into()),
        })
    }
    async fn bus(&self, name: &str) -> Result<Bus, Error> {
        self.buses
            .get(name)
            .cloned()
            .ok_or(missing("DescribeEventBus"))
    }
    async fn rule(&self, bus: &str, name: &str) -> Result<Rule, Error> {
        let key = (self.region.clone(), bus.to_owned(), name.to_owned());
        self.rules.get(&key).cloned().ok_or(missing("DescribeRule"))
    }
    async fn test_pattern(&self, _pattern: &str, _event: &str) -> Result<bool, Error> {
        Err(missing("TestEventPattern"))
    }
    async fn queue(&self, name: &str) -> Result<Queue, Error> {
        self.queues.get(name).cloned().ok_or(missing("GetQueueUrl"))
    }
    async fn dead_letter_codes(&self, _queue: &Queue) -> Result<Vec<String>, Error> {
        Ok(vec!["KMSAccessDeniedException".into()])
    }
    async fn function(&self, name: &str) -> Result<FunctionConfiguration, Error> {
        let environment = self
            .functions
            .get(name)
            .cloned()
            .ok_or(missing("GetFunctionConfiguration"))?;
        Ok(FunctionConfiguration {
            environment,
            vpc_id: self.function_vpcs.get(name).cloned(),
        })
    }
    async fn vpc_dns(&self, vpc_id: &str) -> Result<VpcDns, Error> {
        self.vpcs
            .get(vpc_id)
            .copied()
            .ok_or(missing("DescribeVpcAttribute"))
    }
    async fn key_policy(&self, _key: &str) -> Result<String, Error> {
        Err(missing("GetKeyPolicy"))
    }
    async fn role(&self, name: &str) -> Result<Role, Error> {
        self.roles.get(name).cloned().ok_or(missing("GetRole"))
    }
    async fn object(&self, _bucket: &str, _key: &str) -> Result<Vec<u8>, Error> {
        Err(missing("GetObject"))
    }
    async fn keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, Error> {
        Ok(self
            .objects
            .get(bucket)
            .map(|keys| {
                keys.iter()
                    .filter(|k| k.starts_with(prefix))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }
    async fn trails(&self) -> Result<Vec<Trail>, Error> {
        Ok(Vec::new())
    }
    async fn failed_invocations(&self, _rule: &str, _hours: u32) -> Result<f64, Error> {
        Ok(0.0)
    }
}

fn args(member_regions: &[&str]) -> DoctorArgs {
    DoctorArgs {
        prefix: None,
        member_roles: vec![MEMBER_ROLE.into()],
        consumer_roles: vec![CONSUMER_ROLE.into()],
        consumer_bus: "trailrelay-consumer".into(),
        member_regions: member_regions.iter().map(|r| r.to_string()).collect(),
        include_read_only: true,
        directory_max_age: 86400,
        aws: crate::aws::AwsArgs {
            profile: None,
            region: None,
        },
        json: true,
    }
}

fn read(security: &Fake, args: &DoctorArgs) -> Vec<Finding> {
    let settings = Settings::from_lookup(|_| None).expect("default settings");
    crate::aws::runtime()
        .expect("runtime")
        .block_on(read_deployment(security, args, &settings, "trailrelay"))
}

fn status_of<'a>(findings: &'a [Finding], id: &str) -> Option<&'a Finding> {
    findings.iter().find(|f| f.id == id)
}

#[test]
fn an_account_with_nothing_deployed_fails_each_piece_and_does_not_stop() {
    let findings = read(
        &Fake {
            region: "us-east-1".into(),
            ..Fake::default()
        },
        &args(&[]),
    );
    for id in [
        "ingest-bus-policy",
        "ingest-rule",
        "enricher-environment",
        "ingest-dlq",
    ] {
        let finding = status_of(&findings, id).unwrap_or_else(|| panic!("no finding {id}"));
        assert_eq!(finding.status, Status::Fail, "{id}: {finding:?}");
    }
    for category in Category::ALL {
        let id = format!("category-bus-policy-{category}");
        assert_eq!(
            status_of(&findings, &id).map(|f| f.status),
            Some(Status::Fail)
        );
    }
    // Without an ingest bus there is no ARN to compare a member's target with.
    assert_eq!(
        status_of(&findings, "member-333333333333").map(|f| f.status),
        Some(Status::CouldNotCheck)
    );
    assert!(any_failed(&findings));
}

#[test]
fn members_are_read_through_their_role_in_every_region_and_consumers_through_theirs() {
    let ingest = format!("arn:aws:events:us-east-1:{SECURITY}:event-bus/trailrelay-ingest");
    let forward = Rule {
        name: "trailrelay-forward".into(),
        state: "ENABLED".into(),
        event_pattern: Some(r#"{"detail-type":["AWS API Call via CloudTrail"]}"#.into()),
        targets: Vec::new(),
    };
    let member = Fake {
        rules: BTreeMap::from([(
            (
                "us-east-1".into(),
                "default".into(),
                "trailrelay-forward".into(),
            ),
            forward,
        )]),
        ..Fake::default()
    };
    let security = Fake {
        region: "us-east-1".into(),
        buses: BTreeMap::from([(
            "trailrelay-ingest".into(),
            Bus {
                arn: ingest,
                policy: None,
            },
        )]),
        queues: BTreeMap::from([(
            "trailrelay-bus-dlq".into(),
            Queue {
                waiting: Some(3),
                ..Queue::default()
            },
        )]),
        others: BTreeMap::from([(MEMBER_ROLE.into(), member)]),
        ..Fake::default()
    };
    let findings = read(&security, &args(&["us-east-1", "eu-west-1"]));

    // The member's rule exists in the region it was deployed to only.
    let east = status_of(&findings, "member-rule-333333333333-us-east-1").expect("us-east-1");
    let west = status_of(&findings, "member-rule-333333333333-eu-west-1").expect("eu-west-1");
    assert!(
        !west.evidence.is_empty() && west.status == Status::Fail,
        "{west:?}"
    );
    assert_ne!(east.evidence, west.evidence);
    assert!(
        west.fix.as_deref().is_some_and(|f| f.contains("eu-west-1")),
        "{west:?}"
    );
    // Failed invocations are read only where the rule exists.
    assert!(status_of(
        &findings,
        "member-failed-invocations-333333333333-us-east-1"
    )
    .is_some());
    assert!(status_of(
        &findings,
        "member-failed-invocations-333333333333-eu-west-1"
    )
    .is_none());
    // The security account's own forward rule is read in both regions too.
    assert!(status_of(&findings, &format!("member-rule-{SECURITY}-eu-west-1")).is_some());
    // Every forward rule read is compared for its exclusion.
    let exclusions = status_of(&findings, "member-exclusions").expect("member-exclusions");
    assert_eq!(exclusions.status, Status::Pass, "{exclusions:?}");
    assert!(
        exclusions.evidence.ends_with("have no exclusion"),
        "{exclusions:?}"
    );
    // The consumer's bus is read in the consumer's account, where it is missing.
    assert_eq!(
        status_of(&findings, "consumer-bus-444444444444").map(|f| f.status),
        Some(Status::CouldNotCheck)
    );
    // Dead letters waiting are read, with their error codes.
    let dlq = status_of(&findings, "bus-dlq").expect("bus-dlq");
    assert!(dlq.evidence.contains("KMSAccessDeniedException"), "{dlq:?}");
}

#[test]
fn the_reconciler_and_the_copy_it_counts_on_are_read_where_the_stack_put_them() {
    use trailrelay_reconcile::*;
    let mut security = Fake {
        region: "us-east-1".into(),
        ..Fake::default()
    };
    // Not deployed: said, not a failure.
    let findings = read(&security, &args(&[]));
    assert_eq!(
        status_of(&findings, "reconciler").unwrap().status,
        Status::Warn
    );
    assert!(status_of(&findings, "enriched-copy").is_none());
    let env: BTreeMap<String, String> = [
        (ENV_TRAIL_BUCKET, "org-log-archive"),
        (ENV_ORGANIZATION_ID, "o-exampleorgid"),
        (ENV_COPY_BUCKET, "trailrelay-copy"),
        (ENV_BACKFILL, "queue"),
        (
            ENV_BUFFER_QUEUE_URL,
            "https://sqs.us-east-1.amazonaws.com/222222222222/trailrelay-buffer",
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    security
        .functions
        .insert("trailrelay-reconcile".into(), env);
    // Deployed, but nothing copied in the last two hours.
    let findings = read(&security, &args(&[]));
    assert_eq!(
        status_of(&findings, "reconciler").unwrap().status,
        Status::Pass
    );
    assert_eq!(
        status_of(&findings, "enriched-copy").unwrap().status,
        Status::Warn
    );
    // An object in this hour's identity partition.
    let hour = OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day]-[hour]"
        ))
        .unwrap();
    security.objects.insert(
        "trailrelay-copy".into(),
        vec![format!(
            "enriched/category=identity/hour={hour}/trailrelay-identity-copy-1.gz"
        )],
    );
    let findings = read(&security, &args(&[]));
    let copy = status_of(&findings, "enriched-copy").unwrap();
    assert_eq!(copy.status, Status::Pass, "{copy:?}");
    assert!(copy.evidence.contains("identity 1"), "{copy:?}");
}

#[test]
fn the_audit_bus_must_admit_the_reconciler_once_it_is_deployed() {
    let role = |name: &str| format!("arn:aws:iam::{SECURITY}:role/trailrelay-{name}");
    let audit_policy = |roles: &[String]| {
        serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "RelayPublishes", "Effect": "Allow", "Principal": {"AWS": roles},
             "Action": "events:PutEvents", "Resource": "*"},
            {"Sid": "NobodyElsePublishes", "Effect": "Deny", "Principal": "*", "Action": "events:PutEvents",
             "Resource": "*", "Condition": {"ArnNotEquals": {"aws:PrincipalArn": roles}}}]})
        .to_string()
    };
    let with_audit = |roles: &[String], reconciler: bool| {
        let mut security = Fake {
            region: "us-east-1".into(),
            ..Fake::default()
        };
        security.buses.insert(
            "trailrelay-ingest".into(),
            Bus {
                arn: format!("arn:aws:events:us-east-1:{SECURITY}:event-bus/trailrelay-ingest"),
                policy: None,
            },
        );
        security.buses.insert(
            "trailrelay-audit".into(),
            Bus {
                arn: format!("arn:aws:events:us-east-1:{SECURITY}:event-bus/trailrelay-audit"),
                policy: Some(audit_policy(roles)),
            },
        );
        if reconciler {
            security
                .functions
                .insert("trailrelay-reconcile".into(), BTreeMap::new());
        }
        status_of(&read(&security, &args(&[])), "category-bus-policy-audit")
            .map(|f| f.status)
            .expect("an audit bus finding")
    };
    let relay = [role("enricher"), role("path-check")];
    let all = [role("enricher"), role("path-check"), role("reconcile")];
    assert_eq!(with_audit(&relay, false), Status::Pass);
    // The stack's policy before the fix: every report refused.
    assert_eq!(with_audit(&relay, true), Status::Fail);
    assert_eq!(with_audit(&all, true), Status::Pass);
}

#[test]
fn a_vpc_whose_dns_cannot_resolve_the_endpoints_fails_vpc_dns() {
    let vpc_dns = |vpc: Option<VpcDns>| {
        let mut security = Fake {
            region: "us-east-1".into(),
            ..Fake::default()
        };
        security
            .functions
            .insert("trailrelay-enricher".into(), BTreeMap::new());
        if let Some(dns) = vpc {
            security
                .function_vpcs
                .insert("trailrelay-enricher".into(), "vpc-0abc".into());
            security.vpcs.insert("vpc-0abc".into(), dns);
        }
        status_of(&read(&security, &args(&[])), "vpc-dns")
            .cloned()
            .expect("a vpc-dns finding")
    };
    assert_eq!(vpc_dns(None).status, Status::Pass);
    let on = VpcDns {
        support: true,
        hostnames: true,
    };
    assert_eq!(vpc_dns(Some(on)).status, Status::Pass);
    // A VPC made by `aws ec2 create-vpc` has hostnames off.
    let made = vpc_dns(Some(VpcDns {
        support: true,
        hostnames: false,
    }));
    assert_eq!(made.status, Status::Fail);
    assert!(
        made.evidence
            .contains("vpc-0abc has enableDnsHostnames off"),
        "{}",
        made.evidence
    );
    assert_eq!(
        made.fix.as_deref(),
        Some("aws ec2 modify-vpc-attribute --vpc-id vpc-0abc --enable-dns-hostnames Value=true")
    );
    let both = vpc_dns(Some(VpcDns {
        support: false,
        hostnames: false,
    }));
    assert!(both
        .evidence
        .contains("enableDnsSupport and enableDnsHostnames off"));
}
