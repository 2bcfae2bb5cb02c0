//! Lambda: a function's configuration, and a synchronous invocation.

use crate::Error;
use aws_config::SdkConfig;
use std::collections::BTreeMap;

/// What the doctor reads of a function's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunctionConfiguration {
    pub environment: BTreeMap<String, String>,
    /// The VPC it runs in, if any.
    pub vpc_id: Option<String>,
}

/// A function's environment variables and VPC.
pub async fn configuration(
    config: &SdkConfig,
    function: &str,
) -> Result<FunctionConfiguration, Error> {
    let answer = aws_sdk_lambda::Client::new(config)
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .map_err(|e| Error::of("GetFunctionConfiguration", e))?;
    Ok(FunctionConfiguration {
        environment: answer
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        vpc_id: answer
            .vpc_config()
            .and_then(|v| v.vpc_id())
            .filter(|id| !id.is_empty())
            .map(str::to_owned),
    })
}

/// Invokes a function and waits for its answer: the payload it returned,
/// or the error it raised (`FunctionError`) as an error.
pub async fn invoke(
    config: &SdkConfig,
    function: &str,
    payload: Vec<u8>,
) -> Result<Vec<u8>, Error> {
    let answer = aws_sdk_lambda::Client::new(config)
        .invoke()
        .function_name(function)
        .payload(payload.into())
        .send()
        .await
        .map_err(|e| Error::of("Invoke", e))?;
    let body = answer
        .payload()
        .map(|b| b.as_ref().to_vec())
        .unwrap_or_default();
    match answer.function_error() {
        Some(kind) => Err(Error {
            api: "Invoke",
            code: Some(kind.to_owned()),
            detail: format!("{function}: {}", String::from_utf8_lossy(&body)),
        }),
        None => Ok(body),
    }
}
