//! What the doctor reads of a deployment, as a trait: the live reads go
//! through the adapters (`Live`), the tests answer from memory, so the
//! reader's wiring (which names, which accounts, which regions) is tested
//! in milliseconds.

use trailrelay_adapters::cloudtrail::Trail;
use trailrelay_adapters::ec2::VpcDns;
use trailrelay_adapters::eventbridge::{Bus, Rule};
use trailrelay_adapters::iam::Role;
use trailrelay_adapters::lambda::FunctionConfiguration;
use trailrelay_adapters::organizations::Organization;
use trailrelay_adapters::sqs::Queue;
use trailrelay_adapters::Error;

/// One account and region of a deployment, read only.
pub(crate) trait Deployment: Sized {
    fn region(&self) -> Option<String>;
    /// The same account in another region.
    fn in_region(&self, region: &str) -> Self;
    /// Another account, through a role there.
    async fn assume(&self, role_arn: &str) -> Self;
    async fn organization(&self) -> Result<Organization, Error>;
    async fn bus(&self, name: &str) -> Result<Bus, Error>;
    async fn rule(&self, bus: &str, name: &str) -> Result<Rule, Error>;
    async fn test_pattern(&self, pattern: &str, event: &str) -> Result<bool, Error>;
    async fn queue(&self, name: &str) -> Result<Queue, Error>;
    /// The error codes of the dead letters waiting in a queue (a peek).
    async fn dead_letter_codes(&self, queue: &Queue) -> Result<Vec<String>, Error>;
    async fn function(&self, name: &str) -> Result<FunctionConfiguration, Error>;
    async fn vpc_dns(&self, vpc_id: &str) -> Result<VpcDns, Error>;
    async fn key_policy(&self, key: &str) -> Result<String, Error>;
    async fn role(&self, name: &str) -> Result<Role, Error>;
    async fn object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, Error>;
    async fn keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, Error>;
    async fn trails(&self) -> Result<Vec<Trail>, Error>;
    /// AWS/Events FailedInvocations of a rule over the last hours.
    async fn failed_invocations(&self, rule: &str, hours: u32) -> Result<f64, Error>;
}

/// The deployment as AWS answers, through the adapters.
pub(crate) struct Live {
    pub config: aws_config::SdkConfig,
}

impl Deployment for Live {
    fn region(&self) -> Option<String> {
        trailrelay_adapters::region_of(&self.config)
    }
    fn in_region(&self, region: &str) -> Self {
        Live {
            config: trailrelay_adapters::in_region(&self.config, region),
        }
    }
    async fn assume(&self, role_arn: &str) -> Self {
        Live {
            config: trailrelay_adapters::assume_role(&self.config, role_arn, "trailrelay-doctor")
                .await,
        }
    }
    async fn organization(&self) -> Result<Organization, Error> {
        trailrelay_adapters::organizations::describe(&self.config).await
    }
    async fn bus(&self, name: &str) -> Result<Bus, Error> {
        trailrelay_adapters::eventbridge::Buses::new(&self.config)
            .describe(name)
            .await
    }
    async fn rule(&self, bus: &str, name: &str) -> Result<Rule, Error> {
        trailrelay_adapters::eventbridge::Buses::new(&self.config)
            .rule(bus, name)
            .await
    }
    async fn test_pattern(&self, pattern: &str, event: &str) -> Result<bool, Error> {
        trailrelay_adapters::eventbridge::Buses::new(&self.config)
            .test_pattern(pattern, event)
            .await
    }
    async fn queue(&self, name: &str) -> Result<Queue, Error> {
        trailrelay_adapters::sqs::Queues::new(&self.config)
            .find(name)
            .await
    }
    async fn dead_letter_codes(&self, queue: &Queue) -> Result<Vec<String>, Error> {
        trailrelay_adapters::sqs::Queues::new(&self.config)
            .peek_error_codes(&queue.url)
            .await
    }
    async fn function(&self, name: &str) -> Result<FunctionConfiguration, Error> {
        trailrelay_adapters::lambda::configuration(&self.config, name).await
    }
    async fn vpc_dns(&self, vpc_id: &str) -> Result<VpcDns, Error> {
        trailrelay_adapters::ec2::vpc_dns(&self.config, vpc_id).await
    }
    async fn key_policy(&self, key: &str) -> Result<String, Error> {
        trailrelay_adapters::kms::key_policy(&self.config, key).await
    }
    async fn role(&self, name: &str) -> Result<Role, Error> {
        trailrelay_adapters::iam::role(&self.config, name).await
    }
    async fn object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, Error> {
        trailrelay_adapters::s3::get_object(&self.config, bucket, key).await
    }
    async fn keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, Error> {
        trailrelay_adapters::s3::list_keys(&self.config, bucket, prefix).await
    }
    async fn trails(&self) -> Result<Vec<Trail>, Error> {
        trailrelay_adapters::cloudtrail::trails(&self.config).await
    }
    async fn failed_invocations(&self, rule: &str, hours: u32) -> Result<f64, Error> {
        trailrelay_adapters::cloudwatch::sum_over_hours(
            &self.config,
            "AWS/Events",
            "FailedInvocations",
            ("RuleName", rule),
            hours,
        )
        .await
    }
}
