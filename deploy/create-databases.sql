-- One database per service: no service reads another's tables.
CREATE DATABASE candidature;
CREATE DATABASE selection;
CREATE DATABASE notification;
CREATE DATABASE timeline;
CREATE DATABASE dashboard;
