CREATE DATABASE prefect OWNER vidops;
