-- One PostgreSQL server, one database per service: they share nothing but HTTP.
CREATE DATABASE gateway;
