// Validates an OpenAPI document (default: docs/openapi.json) with
// @apidevtools/swagger-parser: the OpenAPI 3.1 schema, every $ref resolvable, and
// swagger-parser's own checks (path parameters declared, operationIds unique, ...).
// Exit 0 and one line when valid; 1 and the reasons otherwise.
"use strict";
const path = require("path");
const SwaggerParser = require("@apidevtools/swagger-parser");

const file = process.argv[2] || path.join(__dirname, "..", "..", "docs", "openapi.json");

SwaggerParser.validate(file)
  .then((api) => {
    const ops = Object.values(api.paths).reduce((n, item) => n + Object.keys(item).length, 0);
    console.log(`${file}: valid OpenAPI ${api.openapi}, ${Object.keys(api.paths).length} paths, ${ops} operations`);
  })
  .catch((err) => {
    console.error(`${file}: ${err.message}`);
    process.exit(1);
  });
