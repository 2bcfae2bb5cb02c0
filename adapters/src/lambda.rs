//! Lambda: a function's environment, and a synchronous invocation.

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
