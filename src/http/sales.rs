//! `GET /concerts/{id}/sales`: what a promoter has sold, by grade.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::ApiPath;
use super::{AppState, Data};
use crate::auth::Principal;
use crate::domain::venue::{Letter, Price, SeatStatus};
use crate::store::SeatRow;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(concert_sales))
}

/// Sales of one grade.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GradeSales {
    #[schema(value_type = String, example = "R")]
    pub grade: Letter,
    /// The grade's current price.
    #[schema(value_type = f64, example = 150000)]
    pub price: Price,
    /// Seats of this grade on sale.
    pub total_seats: u64,
    pub sold_seats: u64,
    pub locked_seats: u64,
    /// Sold seats at the grade's current price.
    #[schema(value_type = f64, example = 300000)]
    pub revenue: Price,
}

/// Sales of a concert: the seat counts and revenue of every grade, and their sums.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConcertSales {
    pub concert_id: i64,
    pub total_seats: u64,
    pub sold_seats: u64,
    pub locked_seats: u64,
    pub available_seats: u64,
    /// Sold seats at their grades' current prices.
    #[schema(value_type = f64, example = 450000)]
    pub revenue: Price,
    /// Money taken through payments (`PAYMENT` concerts: the orders paid, late payments
    /// refunded at once included; `DIRECT` ones take none).
    #[schema(value_type = f64, example = 450000)]
    pub paid: Price,
    /// Money given back of it (cancelled paid seats, late payments).
    #[schema(value_type = f64, example = 0)]
    pub refunded: Price,
    /// Grades in letter order.
    pub grades: Vec<GradeSales>,
}

impl ConcertSales {
    /// Sums a seat map row by row.
    fn of(concert_id: i64, rows: &[SeatRow], (paid, refunded): (i64, i64)) -> Self {
        let mut grades: BTreeMap<Letter, GradeSales> = BTreeMap::new();
        for row in rows {
            let sales = grades.entry(row.grade).or_insert_with(|| GradeSales {
                grade: row.grade,
                price: row.price,
                total_seats: 0,
                sold_seats: 0,
                locked_seats: 0,
                revenue: Price::default(),
            });
            for &(_, status) in &row.seats {
                sales.total_seats += 1;
                match status {
                    SeatStatus::Reserved => sales.sold_seats += 1,
                    SeatStatus::Locked => sales.locked_seats += 1,
                    // Held seats are not sold until paid.
                    SeatStatus::Available | SeatStatus::Held => {}
                }
            }
        }
        let grades: Vec<GradeSales> = grades
            .into_values()
            .map(|g| GradeSales {
                revenue: Price::from_cents(g.price.cents().saturating_mul(g.sold_seats as i64)),
                ..g
            })
            .collect();
        let sum = |f: fn(&GradeSales) -> u64| grades.iter().map(f).sum::<u64>();
        let (total_seats, sold_seats, locked_seats) =
            (sum(|g| g.total_seats), sum(|g| g.sold_seats), sum(|g| g.locked_seats));
        Self {
            concert_id,
            total_seats,
            sold_seats,
            locked_seats,
            available_seats: total_seats - sold_seats - locked_seats,
            revenue: Price::from_cents(grades.iter().map(|g| g.revenue.cents()).fold(0, i64::saturating_add)),
            paid: Price::from_cents(paid),
            refunded: Price::from_cents(refunded),
            grades,
        }
    }
}

/// Seats sold out of the total and revenue, by grade, from the live seat map, and the money
/// its orders took and gave back. For the concert's promoter and administrators.
#[utoipa::path(get, path = "/concerts/{id}/sales", tag = "concerts", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id")),
    responses(
        (status = 200, description = "the concert's sales", body = Data<ConcertSales>),
        (status = 400, description = "the id is not a number", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the concert's promoter or an administrator", body = ErrorBody),
        (status = 404, description = "no such concert", body = ErrorBody),
    ))]
async fn concert_sales(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<ConcertSales>>, ApiError> {
    let (map, takings) = state.bookings.sales(&principal, id).await?;
    let rows: Vec<SeatRow> = map.sections.into_iter().flat_map(|s| s.rows).collect();
    Ok(Json(Data::new(ConcertSales::of(id, &rows, takings))))
}
