//! Taking money for orders: the payment providers' protocols, free of the database and
//! of the service's routes.

pub mod stripe;
