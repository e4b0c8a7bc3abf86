//! End-to-end tests of the HTTP contract in `API.md`: each test starts the
//! real service on port 0 with a fresh SQLite database and speaks HTTP to it.

mod admin;
mod errors;
mod helpers;
mod keys;
mod limits;
mod login;
mod operations;
mod protection;
mod refresh;
mod register;
mod sessions;
mod users;
mod verify;
