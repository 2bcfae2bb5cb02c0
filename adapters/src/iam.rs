//! IAM: a role's trust policy and inline policies.

use crate::Error;
use aws_config::SdkConfig;

/// A role as IAM holds it, its documents decoded.
#[derive(Debug, Clone, Default)]
pub struct Role {
    pub trust_policy: Option<String>,
    pub inline_policies: Vec<String>,
}

/// IAM returns policy documents URL-encoded.
fn decoded(document: &str) -> String {
    percent_encoding::percent_decode_str(document)
        .decode_utf8_lossy()
        .into_owned()
}

/// The role and its inline policies (one that cannot be read is left out).
pub async fn role(config: &SdkConfig, name: &str) -> Result<Role, Error> {
    let iam = aws_sdk_iam::Client::new(config);
    let role = iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .map_err(|e| Error::of("GetRole", e))?;
    let mut inline_policies = Vec::new();
    if let Ok(names) = iam.list_role_policies().role_name(name).send().await {
        for policy in names.policy_names() {
            if let Ok(p) = iam
                .get_role_policy()
                .role_name(name)
                .policy_name(policy)
                .send()
                .await
            {
                inline_policies.push(decoded(p.policy_document()));
            }
        }
    }
    Ok(Role {
        trust_policy: role
            .role()
            .and_then(|r| r.assume_role_policy_document())
            .map(decoded),
        inline_policies,
    })
}
