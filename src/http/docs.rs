//! The parts of the OpenAPI document no single handler owns: error answers that any
//! operation can give, documented once for all of them, so the document lists every status
//! the service really sends (schemathesis checks it); the wire shape of domain values (the
//! domain knows nothing of OpenAPI); envelopes that name their content; links.

use utoipa::ToSchema;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ArrayItems, Object, Ref, Schema, Type};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, OpenApi, RefOr, Response, ResponseBuilder};

// The wire shape of domain values. These types are never built: they only describe, in
// the document, what the domain's own types serialize to (the tests below hold the two
// together).

/// What an account may do; each role includes the ones before it: `USER` a fan (every
/// signup), `COMPANY_USER` a promoter, `ADMIN` an operator.
#[derive(ToSchema)]
#[schema(as = Role, rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(dead_code)]
pub(super) enum RoleSchema {
    User,
    CompanyUser,
    Admin,
}

/// The state of one seat.
#[derive(ToSchema)]
#[schema(as = SeatStatus, rename_all = "UPPERCASE")]
#[allow(dead_code)]
pub(super) enum SeatStatusSchema {
    Available,
    Reserved,
    Locked,
    Held,
}

/// A reservation's state: `H` held until `expiresAt` (a `PAYMENT` concert, until paid),
/// `Y` confirmed (the seat is the fan's), `N` cancelled, `E` expired unpaid (both kept as
/// history).
#[derive(ToSchema)]
#[schema(as = ReservationStatus)]
#[allow(dead_code)]
pub(super) enum ReservationStatusSchema {
    #[schema(rename = "H")]
    Held,
    #[schema(rename = "Y")]
    Active,
    #[schema(rename = "N")]
    Cancelled,
    #[schema(rename = "E")]
    Expired,
}

/// One rule that one input field broke.
#[derive(ToSchema)]
#[schema(as = FieldError)]
#[allow(dead_code)]
pub(super) struct FieldErrorSchema {
    /// The field's name as the client sent it (camelCase, dotted for nested fields).
    #[schema(example = "seats.A-1")]
    field: String,
    /// What is wrong, in words a person can act on.
    #[schema(example = "is taken")]
    message: String,
}

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
    for operation in operations(openapi) {
        add_shared_errors(operation);
    }
}

/// `(parameter, runtime expression)` pairs of a link.
type LinkParameters = &'static [(&'static str, &'static str)];

/// Where a created resource's id goes next: `(operation, status, link name, target
/// operation, [(parameter, runtime expression)])`. Clients and stateful fuzzers follow
/// them from a creation to what can be done with what it created.
const LINKS: &[(&str, &str, &str, &str, LinkParameters)] = &[
    ("create_auditorium", "201", "GetAuditorium", "get_auditorium", &[("id", "$response.body#/data/id")]),
    (
        "create_auditorium",
        "201",
        "UpdateAuditorium",
        "update_auditorium",
        &[("id", "$response.body#/data/id")],
    ),
    (
        "create_auditorium",
        "201",
        "DeleteAuditorium",
        "delete_auditorium",
        &[("id", "$response.body#/data/id")],
    ),
    ("create_auditorium", "201", "ToggleSeatLock", "toggle_seat_lock", &[("id", "$response.body#/data/id")]),
    ("create_concert", "201", "GetConcert", "get_concert", &[("id", "$response.body#/data/id")]),
    ("create_concert", "201", "UpdateConcert", "update_concert", &[("id", "$response.body#/data/id")]),
    ("create_concert", "201", "DeleteConcert", "delete_concert", &[("id", "$response.body#/data/id")]),
    ("create_concert", "201", "SeatMap", "seat_map", &[("id", "$response.body#/data/id")]),
    ("create_concert", "201", "ReservationMap", "reservation_map", &[("id", "$response.body#/data/id")]),
    ("create_concert", "201", "Book", "book", &[("id", "$response.body#/data/id")]),
    (
        "book",
        "201",
        "Cancel",
        "cancel",
        &[("id", "$response.body#/data/concertId"), ("reservation_id", "$response.body#/data/id")],
    ),
    ("signup", "201", "UpdateUser", "update_user", &[("id", "$response.body#/data/id")]),
];

/// Adds [`LINKS`] to the responses they start from.
pub(super) fn document_links(openapi: &mut OpenApi) {
    for operation in operations(openapi) {
        let Some(id) = operation.operation_id.clone() else { continue };
        for (_, status, name, target, parameters) in LINKS.iter().filter(|l| l.0 == id) {
            let Some(RefOr::T(response)) = operation.responses.responses.get_mut(*status) else { continue };
            let mut link = parameters
                .iter()
                .fold(LinkBuilder::new(), |link, (param, expr)| link.parameter(*param, *expr))
                .build();
            // utoipa 5.5 serializes `Link::operation_id` as `operation_id`, which no OpenAPI
            // reader knows; the field goes in under its real name instead.
            let mut named = Extensions::default();
            named.insert("operationId".into(), (*target).into());
            link.extensions = Some(named);
            response.links.insert((*name).to_owned(), RefOr::T(link));
        }
    }
}

/// Makes each `Data<T>` envelope refer to `T`. utoipa writes a copy of `T`'s schema into
/// every envelope (`Data_UserView.data`: a copy of `UserView`), and a client generated from
/// the document would get a type of its own for each copy, none of them `T`. A copy that is
/// exactly `T`'s schema (for `Data<Vec<T>>`: the items) is replaced by a reference to it.
pub(super) fn reference_envelope_contents(openapi: &mut OpenApi) {
    let Some(components) = openapi.components.as_mut() else { return };
    let same = |a: &RefOr<Schema>, b: &RefOr<Schema>| {
        serde_json::to_value(a).ok().is_some_and(|a| serde_json::to_value(b).ok() == Some(a))
    };
    let envelopes: Vec<String> =
        components.schemas.keys().filter(|n| n.starts_with("Data_")).cloned().collect();
    for envelope in envelopes {
        let content = &envelope["Data_".len()..];
        let whole = components.schemas.get(content).cloned();
        let item =
            content.strip_prefix("Vec_").and_then(|item| Some((item, components.schemas.get(item)?.clone())));
        let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(&envelope) else { continue };
        let Some(data) = object.properties.get_mut("data") else { continue };
        if whole.is_some_and(|whole| same(data, &whole)) {
            *data = RefOr::Ref(Ref::from_schema_name(content));
        } else if let Some((name, item)) = item
            && let RefOr::T(Schema::Array(array)) = data
            && let ArrayItems::RefOrSchema(items) = &mut array.items
            && same(items, &item)
        {
            **items = RefOr::Ref(Ref::from_schema_name(name));
        }
    }
}

fn operations(openapi: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
    })
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

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use serde_json::{Value, json};
    use utoipa::PartialSchema;

    use super::{FieldErrorSchema, ReservationStatusSchema, RoleSchema, SeatStatusSchema};
    use crate::domain::FieldError;
    use crate::domain::booking::ReservationStatus;
    use crate::domain::user::Role;
    use crate::domain::venue::SeatStatus;

    fn schema<S: PartialSchema>() -> Value {
        serde_json::to_value(S::schema()).unwrap()
    }

    fn wire<T: Serialize>(values: &[T]) -> Value {
        serde_json::to_value(values).unwrap()
    }

    #[test]
    fn the_documented_enums_are_what_the_domain_sends() {
        // Each list names every value (the matches fail to compile when one is added).
        let roles = [Role::User, Role::CompanyUser, Role::Admin];
        roles.iter().for_each(|r| match r {
            Role::User | Role::CompanyUser | Role::Admin => {}
        });
        assert_eq!(schema::<RoleSchema>()["enum"], wire(&roles));
        let seats = [SeatStatus::Available, SeatStatus::Reserved, SeatStatus::Locked, SeatStatus::Held];
        seats.iter().for_each(|s| match s {
            SeatStatus::Available | SeatStatus::Reserved | SeatStatus::Locked | SeatStatus::Held => {}
        });
        assert_eq!(schema::<SeatStatusSchema>()["enum"], wire(&seats));
        let reservations = [
            ReservationStatus::Held,
            ReservationStatus::Active,
            ReservationStatus::Cancelled,
            ReservationStatus::Expired,
        ];
        reservations.iter().for_each(|r| match r {
            ReservationStatus::Held
            | ReservationStatus::Active
            | ReservationStatus::Cancelled
            | ReservationStatus::Expired => {}
        });
        assert_eq!(schema::<ReservationStatusSchema>()["enum"], wire(&reservations));
    }

    #[test]
    fn the_documented_field_error_is_what_the_domain_sends() {
        let sent = serde_json::to_value(FieldError { field: "email".into(), message: "is required".into() });
        let sent: Vec<String> = sent.unwrap().as_object().unwrap().keys().cloned().collect();
        let documented = schema::<FieldErrorSchema>();
        let properties: Vec<String> = documented["properties"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(properties, sent);
        assert_eq!(documented["required"], json!(sent));
    }
}
