-- The classic Unity Catalog lineage demo (Menu and Dinner).
-- Run through the SQL statements API (issue 8: `climatelake sql run sql/lineage_demo.sql`);
-- ${catalog} is replaced by the configured catalog.
-- Re-runnable: a second run (e.g. `make run` on kept state) starts the two tables afresh; lineage of
-- earlier runs stays, as on Databricks.
CREATE SCHEMA IF NOT EXISTS ${catalog}.lineagedemo;

DROP TABLE IF EXISTS ${catalog}.lineagedemo.dinner;

DROP TABLE IF EXISTS ${catalog}.lineagedemo.menu;

CREATE TABLE ${catalog}.lineagedemo.menu (
  recipe_id INT,
  app STRING,
  main STRING,
  dessert STRING
);

INSERT INTO ${catalog}.lineagedemo.menu (recipe_id, app, main, dessert) VALUES
  (1, 'Ceviche', 'Tacos', 'Flan'),
  (2, 'Tomato Soup', 'Souffle', 'Creme Brulee'),
  (3, 'Chips', 'Grilled Cheese', 'Cheesecake');

CREATE TABLE ${catalog}.lineagedemo.dinner AS
SELECT recipe_id, concat(app, ' + ', main, ' + ', dessert) AS full_menu
FROM ${catalog}.lineagedemo.menu;
