//! `trailrelay doctor`: reads a deployment through the AWS APIs and judges
//! it with `judge`. Every read that fails becomes a
//! finding (a missing resource fails; an API the endpoint lacks "could not
//! check"), never a crash.

use crate::CliError;
use reads::{Deployment, Live};
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;
use time::OffsetDateTime;
use trailrelay_adapters::organizations::Organization;
use trailrelay_shared::directory::Directory;
mod judge;
mod reads;
mod requirements;
#[cfg(test)]
mod tests;

use crate::finding::{any_failed, Finding, Status};
use trailrelay_shared::settings::{
    bus_variable, Settings, ENV_DIRECTORY_BUCKET, ENV_DIRECTORY_KEY, ENV_RELAY_KEY_ARN,
};
use trailrelay_shared::Category;

/// The calls the doctor makes in a member account, through the member
/// stack's doctor role (`--member-role-arn`): the flow test
/// (`tests/templates/test_iam_flows.py`) judges each against member-roles.yaml.
// Read by aws_calls' test, which writes tests/iam/aws-calls.json.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const MEMBER_ROLE_CALLS: &[trailrelay_adapters::calls::Call] = {
    use trailrelay_adapters::calls::*;
    &[
        IAM_GET_ROLE,
        IAM_LIST_ROLE_POLICIES,
        IAM_GET_ROLE_POLICY,
        EVENTS_DESCRIBE_RULE,
        EVENTS_LIST_TARGETS_BY_RULE,
        CLOUDTRAIL_DESCRIBE_TRAILS,
        CLOUDTRAIL_GET_TRAIL_STATUS,
        CLOUDTRAIL_GET_EVENT_SELECTORS,
        CLOUDWATCH_GET_METRIC_STATISTICS,
    ]
};

/// The calls the doctor makes in a consumer account, through
/// consumer-account.yaml's doctor role (`--consumer-role-arn`).
// Read by aws_calls' test, which writes tests/iam/aws-calls.json.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const CONSUMER_ROLE_CALLS: &[trailrelay_adapters::calls::Call] =
    &[trailrelay_adapters::calls::EVENTS_DESCRIBE_EVENT_BUS];

#[derive(clap::Args)]
pub struct DoctorArgs {
    /// The stacks' NamePrefix; default: TRAILRELAY_NAME_PREFIX, else trailrelay.
    #[arg(long)]
    prefix: Option<String>,
    /// A role to assume in a member account to check its forwarding (the
    /// member stack's optional doctor role); repeat for more accounts.
    #[arg(long = "member-role-arn", value_name = "ARN")]
    member_roles: Vec<String>,
    /// A role to assume in a consumer account (consumer-account.yaml's doctor
    /// role) to check that its bus admits the category buses' rules; repeat for more.
    #[arg(long = "consumer-role-arn", value_name = "ARN")]
    consumer_roles: Vec<String>,
    /// The consumer accounts' bus (consumer-account.yaml's ConsumerBusName).
    #[arg(long, default_value = "trailrelay-consumer")]
    consumer_bus: String,
    /// Regions to check in member accounts; default: TRAILRELAY_ENROLLED_REGIONS, else the current region.
    #[arg(long, value_delimiter = ',')]
    member_regions: Vec<String>,
    /// The stack relays read-only events too (IncludeReadOnlyEvents=false: give false).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    include_read_only: bool,
    /// A directory older than this is stale (seconds).
    #[arg(long, default_value_t = 86400)]
    directory_max_age: u64,
    #[command(flatten)]
    aws: crate::aws::AwsArgs,
    /// One JSON document instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn doctor(args: DoctorArgs, out: &mut dyn Write, colour: bool) -> Result<bool, CliError> {
    let settings = Settings::from_env()?;
    let prefix = crate::aws::name_prefix(args.prefix.as_deref(), &settings);
    let runtime = crate::aws::runtime()?;
    let findings = runtime.block_on(async {
        let live = Live {
            config: args.aws.config().await,
        };
        read_deployment(&live, &args, &settings, &prefix).await
    });
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &findings)
            .map_err(|e| CliError::Output(e.into()))?;
        writeln!(out).map_err(CliError::Output)?;
    } else {
        write_table(&findings, out, colour).map_err(CliError::Output)?;
    }
    Ok(!any_failed(&findings))
}

/// Every finding: the security account, then each consumer and member
/// account through its role.
async fn read_deployment<D: Deployment>(
    security: &D,
    args: &DoctorArgs,
    settings: &Settings,
    prefix: &str,
) -> Vec<Finding> {
    let mut regions = args.member_regions.clone();
    if regions.is_empty() {
        regions = settings.paths.enrolled_regions.clone();
    }
    if regions.is_empty() {
        regions.extend(security.region());
    }
    let organization = security.organization().await.ok();
    let reader = Reader {
        prefix,
        regions: regions.clone(),
        settings,
        include_read_only: args.include_read_only,
        directory_max_age: Duration::from_secs(args.directory_max_age),
        management_account: organization
            .as_ref()
            .and_then(|o| o.management_account.clone()),
        exclusions: Default::default(),
    };
    let (mut findings, ingest_arn) = reader
        .security_account(security, organization.as_ref())
        .await;
    findings.push(management_coverage(
        organization.as_ref(),
        &args.member_roles,
        ingest_arn.as_deref(),
    ));
    let security_account = ingest_arn
        .as_deref()
        .and_then(arn_region_account)
        .map(|(_, a)| a)
        .unwrap_or_default();
    for role in &args.consumer_roles {
        let account = arn_region_account(role).map(|(_, a)| a).unwrap_or_default();
        let consumer = security.assume(role).await;
        findings.push(match consumer.bus(&args.consumer_bus).await {
            Ok(bus) => requirements::consumer_bus_policy(
                &account,
                &args.consumer_bus,
                bus.policy.as_deref(),
                &security_account,
                prefix,
            ),
            Err(e) => Finding::could_not_check(
                requirements::consumer_bus_id(&account),
                format!(
                    "{} in {account} could not be read: {}",
                    args.consumer_bus,
                    e.short()
                ),
            ),
        });
    }
    for role in &args.member_roles {
        findings.extend(
            reader
                .member_account(security, role, &regions, ingest_arn.as_deref())
                .await,
        );
    }
    if let Ok(exclusions) = reader.exclusions.lock() {
        findings.push(judge::member_exclusions(&exclusions));
    }
    findings
}

fn write_table(findings: &[Finding], out: &mut dyn Write, colour: bool) -> std::io::Result<()> {
    let paint = |status: Status, text: &str| -> String {
        if !colour {
            return text.to_owned();
        }
        let code = match status {
            Status::Pass => "32",
            Status::Warn => "33",
            Status::Fail => "31;1",
            Status::CouldNotCheck => "36",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    };
    for f in findings {
        let status = format!("{:<15}", f.status.to_string());
        writeln!(
            out,
            "{} {:<34} {}",
            paint(f.status, &status),
            f.id,
            f.evidence
        )?;
        if let Some(fix) = &f.fix {
            writeln!(out, "{:<15} {:<34} fix: {fix}", "", "")?;
        }
    }
    let count = |s: Status| findings.iter().filter(|f| f.status == s).count();
    writeln!(
        out,
        "{} finding(s): {} pass, {} warn, {} fail, {} could not check",
        findings.len(),
        count(Status::Pass),
        count(Status::Warn),
        count(Status::Fail),
        count(Status::CouldNotCheck)
    )
}

/// Sample events, one per detail-type the ingest rule must take.
fn samples(control_source: &str) -> Vec<(String, String)> {
    let event = |source: &str, detail_type: &str| {
        serde_json::json!({"id": "doctor", "source": source, "detail-type": detail_type,
            "account": "111111111111", "region": "us-east-1", "time": "2026-01-01T00:00:00Z",
            "resources": [], "detail": {"eventSource": "iam.amazonaws.com", "eventName": "CreateUser"}})
        .to_string()
    };
    vec![
        (
            "AWS API Call via CloudTrail".into(),
            event("aws.iam", "AWS API Call via CloudTrail"),
        ),
        (
            "AWS Console Sign In via CloudTrail".into(),
            event("aws.signin", "AWS Console Sign In via CloudTrail"),
        ),
        (
            "trailrelay Heartbeat".into(),
            event(control_source, "trailrelay Heartbeat"),
        ),
        (
            "trailrelay Test Event".into(),
            event(control_source, "trailrelay Test Event"),
        ),
    ]
}

struct Reader<'a> {
    prefix: &'a str,
    /// The regions forward rules are checked in.
    regions: Vec<String>,
    settings: &'a Settings,
    include_read_only: bool,
    directory_max_age: Duration,
    /// The organization's management account, when it could be read.
    management_account: Option<String>,
    /// Each forward rule read: its exclusion, by (account, region).
    exclusions: std::sync::Mutex<BTreeMap<(String, String), Option<String>>>,
}

impl Reader<'_> {
    fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.prefix)
    }
}

/// The part of an ARN after `:<account>:`, split out: (region, account).
fn arn_region_account(arn: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    (parts.len() == 6).then(|| (parts[3].to_owned(), parts[4].to_owned()))
}

/// The accounts a category bus policy lets manage rules (the consumers).
fn consumer_accounts(policy: Option<&str>) -> Vec<String> {
    let Some(policy) = policy.and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
    else {
        return Vec::new();
    };
    let statements = match policy.get("Statement") {
        Some(serde_json::Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    let mut accounts = Vec::new();
    for s in statements.iter().filter(|s| {
        s.get("Sid")
            .and_then(|v| v.as_str())
            .is_some_and(|sid| sid.starts_with("Consumers"))
    }) {
        let principals = match s.get("Principal").and_then(|p| p.get("AWS")) {
            Some(serde_json::Value::String(one)) => vec![one.clone()],
            Some(serde_json::Value::Array(many)) => many
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        // An account id, or its root ARN.
        accounts.extend(principals.into_iter().map(|p| match p.split(':').nth(4) {
            Some(account) if p.starts_with("arn:") => account.to_owned(),
            _ => p,
        }));
    }
    accounts
}

impl Reader<'_> {
    /// The security account's findings, and the ingest bus's ARN if it exists.
    async fn security_account<D: Deployment>(
        &self,
        security: &D,
        organization: Option<&Organization>,
    ) -> (Vec<Finding>, Option<String>) {
        let mut findings = Vec::new();

        let organization_id = organization.and_then(|o| o.id.as_deref());
        let ingest_name = self.name("ingest");
        let ingest = security.bus(&ingest_name).await.ok();
        let ingest_arn = ingest.as_ref().map(|b| b.arn.clone());
        let (region, account) = ingest_arn
            .as_deref()
            .and_then(arn_region_account)
            .unwrap_or_default();
        findings.push(judge::ingest_bus_policy(
            &ingest_name,
            ingest.as_ref().and_then(|b| b.policy.as_deref()),
            organization_id,
            self.prefix,
        ));

        let rule_name = self.name("ingest-to-enricher");
        let rule = security.rule(&ingest_name, &rule_name).await.ok();
        let expected_targets = vec![
            format!(
                "arn:aws:lambda:{region}:{account}:function:{}",
                self.name("enricher")
            ),
            format!("arn:aws:sqs:{region}:{account}:{}", self.name("buffer")),
        ];
        findings.push(judge::ingest_rule(
            rule.as_ref(),
            &self.settings.source,
            &expected_targets,
            self.include_read_only,
        ));
        if let Some(pattern) = rule.as_ref().and_then(|r| r.event_pattern.clone()) {
            // A pattern that must match its own event: an endpoint that
            // answers false to it (emulators answer with an empty body, which
            // reads as false) cannot be asked the real question.
            let probe_event = samples("trailrelay.doctor-probe").remove(2).1;
            let trustworthy = security
                .test_pattern(r#"{"source":["trailrelay.doctor-probe"]}"#, &probe_event)
                .await
                .unwrap_or(false);
            let mut answers = Vec::new();
            for (detail_type, event) in samples(&self.settings.control_source) {
                let answer = security
                    .test_pattern(&pattern, &event)
                    .await
                    .ok()
                    .filter(|_| trustworthy);
                answers.push((detail_type, answer));
            }
            findings.push(judge::pattern_matches(&rule_name, &answers));
        }

        for (id, queue) in [
            ("ingest-dlq", self.name("ingest-dlq")),
            ("buffer-dlq", self.name("buffer-dlq")),
            ("bus-dlq", self.name("bus-dlq")),
        ] {
            let found = security.queue(&queue).await.ok();
            let waiting = found.as_ref().map(|q| q.waiting.unwrap_or(0));
            let codes = match &found {
                Some(q) if waiting > Some(0) => {
                    security.dead_letter_codes(q).await.unwrap_or_default()
                }
                _ => Vec::new(),
            };
            findings.push(judge::dead_letter_queue(id, &queue, waiting, &codes));
        }

        let enricher_role = format!("arn:aws:iam::{account}:role/{}", self.name("enricher"));
        let check_role = format!("arn:aws:iam::{account}:role/{}", self.name("path-check"));
        // The reconciler, when deployed, reports on the audit bus too.
        let reconciler_role = match security.function(&self.name("reconcile")).await {
            Ok(_) => Some(format!(
                "arn:aws:iam::{account}:role/{}",
                self.name("reconcile")
            )),
            Err(_) => None,
        };
        let mut bus_arns = BTreeMap::new();
        let mut consumers = std::collections::BTreeSet::new();
        for category in Category::ALL {
            let name = self.name(category.as_str());
            let bus = security.bus(&name).await.ok();
            let mut roles = vec![enricher_role.clone()];
            if category == Category::Audit {
                roles.push(check_role.clone());
                roles.extend(reconciler_role.clone());
            }
            match &bus {
                Some(bus) => {
                    bus_arns.insert(bus_variable(category), bus.arn.clone());
                    findings.push(judge::category_bus_policy(
                        category.as_str(),
                        &name,
                        bus.policy.as_deref(),
                        &roles,
                    ));
                    consumers.extend(consumer_accounts(bus.policy.as_deref()));
                }
                None => findings.push(Finding::fail(
                    format!("category-bus-policy-{category}"),
                    format!(
                        "{name} does not exist: events of category {category} cannot be delivered"
                    ),
                    "redeploy template.yaml",
                )),
            }
        }

        let function = security.function(&self.name("enricher")).await.ok();
        findings.push(match function.as_ref().and_then(|f| f.vpc_id.as_deref()) {
            Some(vpc) => requirements::vpc_dns(vpc, security.vpc_dns(vpc).await),
            None => requirements::vpc_dns_outside_a_vpc(function.is_some()),
        });
        let environment = function.clone().map(|f| f.environment).unwrap_or_default();
        findings.push(enricher_environment(
            function.is_some(),
            &environment,
            &bus_arns,
        ));
        let relay_key = environment.get(ENV_RELAY_KEY_ARN).cloned();
        let consumers: Vec<String> = consumers.into_iter().collect();
        findings.push(match &relay_key {
            Some(key) => {
                let policy = security.key_policy(key).await.ok();
                requirements::key_grants(key, policy.as_deref(), &consumers)
            }
            None => Finding::could_not_check(
                requirements::KEY_GRANTS,
                format!("the enricher's environment names no relay key ({ENV_RELAY_KEY_ARN})"),
            ),
        });
        for (id, queue) in [
            ("ingest-dlq", self.name("ingest-dlq")),
            ("bus-dlq", self.name("bus-dlq")),
            ("account-sync-dlq", self.name("account-sync-dlq")),
            ("path-check-dlq", self.name("path-check-dlq")),
        ] {
            findings.push(match security.queue(&queue).await {
                Ok(q) => requirements::dlq_encryption(
                    id,
                    &queue,
                    q.kms_key.as_deref(),
                    q.sse_sqs,
                    relay_key.as_deref(),
                ),
                Err(_) => Finding::fail(
                    requirements::dlq_encryption_id(id),
                    format!("{queue} does not exist"),
                    "redeploy template.yaml",
                ),
            });
        }
        let enricher_policies = security
            .role(&self.name("enricher"))
            .await
            .ok()
            .map(|r| r.inline_policies);
        let arns: Vec<String> = bus_arns.values().cloned().collect();
        findings.push(judge::enricher_role(
            &self.name("enricher"),
            enricher_policies.as_deref(),
            &arns,
        ));
        findings.push(self.directory(security, &environment).await);
        findings.extend(
            self.reconciliation(security, OffsetDateTime::now_utc())
                .await,
        );
        // The security account forwards its own events through the member
        // stack too (its CloudTrail events count as much as anyone's).
        if let Some(ingest) = ingest_arn.as_deref() {
            for region in &self.regions {
                let regional = security.in_region(region);
                findings.extend(self.forward_path(&regional, &account, region, ingest).await);
            }
        }
        (findings, ingest_arn)
    }

    /// The reconciler's settings, and whether the enriched copy it counts
    /// as seen is being written (its last two hour partitions).
    async fn reconciliation<D: Deployment>(
        &self,
        security: &D,
        now: OffsetDateTime,
    ) -> Vec<Finding> {
        let name = self.name("reconcile");
        let environment = match security.function(&name).await {
            Ok(function) => function.environment,
            Err(e) if e.code.as_deref() == Some("ResourceNotFoundException") => {
                return vec![judge::reconciler(&name, None)]
            }
            Err(e) => {
                return vec![Finding::could_not_check(
                    judge::RECONCILER,
                    format!("{name} could not be read: {}", e.short()),
                )]
            }
        };
        let mut findings = vec![judge::reconciler(&name, Some(&environment))];
        if let Some(bucket) = environment.get(trailrelay_reconcile::ENV_COPY_BUCKET) {
            let window = trailrelay_reconcile::Window {
                from: now - time::Duration::hours(1),
                to: now,
            };
            let mut counts = Vec::new();
            for category in Category::ALL {
                let prefixes = trailrelay_reconcile::window::copy_prefixes(
                    trailrelay_reconcile::COPY_PREFIX,
                    &[category.as_str()],
                    &window,
                    now,
                );
                for prefix in prefixes {
                    let count = security
                        .keys(bucket, &prefix)
                        .await
                        .map(|keys| keys.len())
                        .map_err(|e| e.short());
                    counts.push((category.as_str(), count));
                }
            }
            findings.push(judge::enriched_copy(bucket, &counts));
        }
        findings
    }

    async fn directory<D: Deployment>(
        &self,
        security: &D,
        environment: &BTreeMap<String, String>,
    ) -> Finding {
        let Some(bucket) = environment.get(ENV_DIRECTORY_BUCKET) else {
            return Finding::could_not_check(
                judge::DIRECTORY,
                "the enricher names no directory bucket",
            );
        };
        let key = environment
            .get(ENV_DIRECTORY_KEY)
            .cloned()
            .unwrap_or_else(|| "latest.json".into());
        let location = format!("s3://{bucket}/{key}");
        let generated = security
            .object(bucket, &key)
            .await
            .ok()
            .and_then(|t| String::from_utf8(t).ok())
            .and_then(|t| Directory::from_json(&t, &location).ok())
            .and_then(|d| d.generated_at().map(str::to_owned))
            .and_then(|t| {
                OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok()
            });
        judge::directory(
            &location,
            generated,
            OffsetDateTime::now_utc(),
            self.directory_max_age,
        )
    }

    async fn member_account<D: Deployment>(
        &self,
        security: &D,
        role_arn: &str,
        regions: &[String],
        ingest_arn: Option<&str>,
    ) -> Vec<Finding> {
        let account = arn_region_account(role_arn)
            .map(|(_, a)| a)
            .unwrap_or_default();
        let Some(ingest_arn) = ingest_arn else {
            return vec![Finding::could_not_check(
                format!("member-{account}"),
                "the ingest bus could not be read, so there is nothing to compare the member's target with",
            )];
        };
        let member = security.assume(role_arn).await;
        let mut findings = Vec::new();
        let forwarder = self.name("forwarder");
        let role = member.role(&forwarder).await.ok();
        let trust = role.as_ref().and_then(|r| r.trust_policy.clone());
        let policies = role.map(|r| r.inline_policies).unwrap_or_default();
        findings.push(judge::member_role(
            &account,
            &forwarder,
            trust.as_deref(),
            &policies,
            ingest_arn,
        ));
        for region in regions {
            let regional = member.in_region(region);
            findings.extend(
                self.forward_path(&regional, &account, region, ingest_arn)
                    .await,
            );
        }
        if !regions.iter().any(|r| r == "us-east-1") {
            findings.push(Finding::warn(
                format!("coverage-{account}"),
                format!("{account} is checked in {regions:?}, without us-east-1, where global services (IAM, Organizations, CloudFront) record their events"),
                "deploy the member stack to us-east-1 too (and add it to EnrolledRegions)",
            ));
        }
        findings
    }
}

/// The management account's events are forwarded too: it must be one
/// of the accounts checked (the security account, or a member role's).
fn management_coverage(
    organization: Option<&Organization>,
    member_roles: &[String],
    ingest_arn: Option<&str>,
) -> Finding {
    let id = "coverage-management-account";
    let Some(management) = organization.and_then(|o| o.management_account.as_deref()) else {
        return Finding::could_not_check(
            id,
            "organizations:DescribeOrganization could not be called",
        );
    };
    let security = ingest_arn.and_then(arn_region_account).map(|(_, a)| a);
    let checked = security.as_deref() == Some(management)
        || member_roles
            .iter()
            .any(|r| arn_region_account(r).is_some_and(|(_, a)| a == management));
    if checked {
        Finding::pass(
            id,
            format!("the management account {management} is among the accounts checked"),
        )
    } else {
        Finding::warn(
            id,
            format!("the management account {management} was not checked: a StackSet does not deploy to it, so its member stack is deployed by hand"),
            "deploy member-roles.yaml (with SecurityAccountId, for its doctor role) and member-account.yaml in the management account, and pass its --member-role-arn",
        )
    }
}

impl Reader<'_> {
    /// One account and region's forward rule, and its failed invocations
    /// over the last hours.
    async fn forward_path<D: Deployment>(
        &self,
        account_in_region: &D,
        account: &str,
        region: &str,
        ingest_arn: &str,
    ) -> Vec<Finding> {
        const HOURS: u32 = 3;
        let rule_name = self.name("forward");
        let rule = account_in_region.rule("default", &rule_name).await.ok();
        if let (Some(rule), Ok(mut exclusions)) = (&rule, self.exclusions.lock()) {
            let pattern = rule
                .event_pattern
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok());
            exclusions.insert(
                (account.to_owned(), region.to_owned()),
                pattern.as_ref().and_then(judge::forward_exclusion),
            );
        }
        let mut rule_finding = judge::member_rule(
            account,
            region,
            rule.as_ref(),
            ingest_arn,
            &self.settings.control_source,
            self.include_read_only,
        );
        if rule.is_none() {
            rule_finding.fix = Some(requirements::missing_member_stack_fix(
                account,
                region,
                self.management_account.as_deref(),
                ingest_arn,
            ));
        }
        let mut findings = vec![rule_finding];
        findings.push(requirements::trail_coverage(
            account,
            region,
            account_in_region
                .trails()
                .await
                .ok()
                .map(|trails| {
                    trails
                        .iter()
                        .map(requirements::TrailFacts::from)
                        .collect::<Vec<_>>()
                })
                .as_deref(),
            self.include_read_only,
        ));
        if rule.is_some() {
            let failed = account_in_region
                .failed_invocations(&rule_name, HOURS)
                .await
                .ok();
            findings.push(judge::forward_failures(
                account, region, &rule_name, failed, HOURS,
            ));
        }
        findings
    }
}

/// The enricher's environment names each category's own bus.
fn enricher_environment(
    exists: bool,
    environment: &BTreeMap<String, String>,
    bus_arns: &BTreeMap<String, String>,
) -> Finding {
    let id = "enricher-environment";
    if !exists {
        return Finding::fail(
            id,
            "the enricher function does not exist",
            "redeploy template.yaml",
        );
    }
    let wrong: Vec<String> = bus_arns
        .iter()
        .filter(|(variable, arn)| {
            let named = environment.get(*variable).map(String::as_str).unwrap_or("");
            named != arn.as_str() && !arn.ends_with(&format!("/{named}"))
        })
        .map(|(variable, arn)| format!("{variable} should name {arn}"))
        .collect();
    if wrong.is_empty() {
        Finding::pass(
            id,
            format!(
                "the enricher names each of the {} category buses",
                bus_arns.len()
            ),
        )
    } else {
        Finding::fail(
            id,
            format!("the enricher's environment: {}", wrong.join("; ")),
            "redeploy template.yaml",
        )
    }
}
