//! KMS: a key's policy.

use crate::Error;
use aws_config::SdkConfig;

/// The key's `default` policy (the only name a key policy has).
pub async fn key_policy(config: &SdkConfig, key: &str) -> Result<String, Error> {
    aws_sdk_kms::Client::new(config)
        .get_key_policy()
        .key_id(key)
        .policy_name("default")
        .send()
        .await
        .map_err(|e| Error::of("GetKeyPolicy", e))
        .map(|p| p.policy().unwrap_or_default().to_owned())
}
