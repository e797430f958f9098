//! Error answers that any operation can give, documented once for all of them, so the
//! OpenAPI document lists every status the service really sends (schemathesis checks it).

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{Object, Ref, Type};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, OpenApi, RefOr, Response, ResponseBuilder};

fn error(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
        )
        .build()
}

fn retry_later(description: &str) -> Response {
    let mut response = error(description);
    response.headers.insert(
        "Retry-After".into(),
        HeaderBuilder::new()
            .schema(Object::with_type(Type::Integer))
            .description(Some("seconds to wait before retrying"))
            .build(),
    );
    response
}

/// Adds to every operation the error answers the shared layers give: 503 when shed or
/// timed out; 400 for a path parameter that does not parse; 413 and 415 for a JSON body
/// that is too large or not JSON. Operations that document one themselves keep theirs.
pub(super) fn document_shared_errors(openapi: &mut OpenApi) {
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            add_shared_errors(operation);
        }
    }
}

fn add_shared_errors(operation: &mut Operation) {
    let has_path_parameter = operation
        .parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == ParameterIn::Path && !p.name.is_empty());
    let json_body =
        operation.request_body.as_ref().is_some_and(|b| b.content.contains_key("application/json"));
    let responses = &mut operation.responses.responses;
    let add =
        |responses: &mut std::collections::BTreeMap<String, RefOr<Response>>, status: &str, response| {
            responses.entry(status.into()).or_insert(RefOr::T(response));
        };
    if has_path_parameter {
        add(responses, "400", error("a path parameter is not valid (the errors name it)"));
    }
    if json_body {
        add(responses, "413", error("body larger than the limit"));
        add(responses, "415", error("body not sent as application/json"));
    }
    if let Some(RefOr::T(limited)) = responses.get_mut("429") {
        let documented = retry_later("");
        limited.headers.extend(documented.headers);
    }
    add(
        responses,
        "503",
        retry_later("at capacity or too slow (load shedding, timeout): retry after Retry-After"),
    );
}
