//! Lambda: a function's environment.

use crate::Error;
use aws_config::SdkConfig;
use std::collections::BTreeMap;

/// The function's environment variables.
pub async fn environment(
    config: &SdkConfig,
    function: &str,
) -> Result<BTreeMap<String, String>, Error> {
    let answer = aws_sdk_lambda::Client::new(config)
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .map_err(|e| Error::of("GetFunctionConfiguration", e))?;
    Ok(answer
        .environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default())
}
