//! Auditoriums, concerts, seat maps and posters.
