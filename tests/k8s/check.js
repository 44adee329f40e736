#!/usr/bin/env node
// Checks Kubernetes manifests without a cluster (docs/kubernetes.md):
//  1. every file parses as YAML (every document, strict: duplicate keys and
//     syntax errors fail);
//  2. every object names only fields that exist in the Kubernetes API, with
//     the right types: each document becomes a typed TypeScript constant,
//       const doc0: import("kubernetes-types/core/v1").Pod = {...};
//     and the TypeScript compiler checks it.  kubernetes-types is generated
//     from the Kubernetes OpenAPI spec (1.30); an object literal with a
//     property its type does not declare is an error ("excess property
//     check"), at every depth, so a misspelled field fails.
// Usage: node check.js FILE.yaml...   exit 0 all good, 1 problems, 2 usage
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const YAML = require("yaml");
const ts = require("typescript");

// apiVersion -> module of kubernetes-types
const groups = {
	"v1": "core/v1",
	"apps/v1": "apps/v1",
	"batch/v1": "batch/v1",
	"rbac.authorization.k8s.io/v1": "rbac/v1",
	"policy/v1": "policy/v1",
	"networking.k8s.io/v1": "networking/v1",
};

const files = process.argv.slice(2);
if (files.length === 0) {
	console.error("usage: node check.js FILE.yaml...");
	process.exit(2);
}

let problems = 0;
const decls = [];
const where = []; // decl index -> "file: document N (Kind name)"
for (const file of files) {
	let docs;
	try {
		docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"), { uniqueKeys: true });
	} catch (e) {
		console.error(`${file}: ${e.message}`);
		problems++;
		continue;
	}
	docs.forEach((doc, i) => {
		for (const e of doc.errors) {
			console.error(`${file}: document ${i + 1}: YAML: ${e.message}`);
			problems++;
		}
		if (doc.errors.length)
			return;
		const obj = doc.toJS();
		if (obj === null || obj === undefined)
			return; // empty document
		const what = `${file}: document ${i + 1} (${obj.kind} ${obj.metadata && obj.metadata.name})`;
		const mod = groups[obj.apiVersion];
		if (!mod || typeof obj.kind !== "string" || !/^[A-Z][A-Za-z]*$/.test(obj.kind)) {
			console.error(`${what}: unknown apiVersion/kind '${obj.apiVersion}' '${obj.kind}'`);
			problems++;
			return;
		}
		where.push(what);
		decls.push(`const doc${decls.length}: import("kubernetes-types/${mod}").${obj.kind} =\n` +
			JSON.stringify(obj, null, 1) + ";\n");
	});
}

if (decls.length) {
	// the generated file sits next to node_modules so the imports resolve
	const dir = fs.mkdtempSync(path.join(__dirname, ".check-"));
	const src = path.join(dir, "manifests.ts");
	fs.writeFileSync(src, decls.join("\n") + "export {};\n");
	const program = ts.createProgram([src], {
		strict: true, noEmit: true, types: [], skipLibCheck: false,
		target: ts.ScriptTarget.ES2020, module: ts.ModuleKind.CommonJS,
		moduleResolution: ts.ModuleResolutionKind.Node10,
	});
	const text = fs.readFileSync(src, "utf8");
	for (const d of ts.getPreEmitDiagnostics(program)) {
		const msg = ts.flattenDiagnosticMessageText(d.messageText, "\n  ");
		let label = "typescript";
		if (d.file && d.file.fileName === src && d.start !== undefined) {
			// which document: count the "const docN" before the error
			const n = (text.slice(0, d.start).match(/^const doc\d+:/gm) || []).length - 1;
			label = where[n] || label;
		}
		console.error(`${label}: ${msg}`);
		problems++;
	}
	fs.rmSync(dir, { recursive: true, force: true });
}
if (problems) {
	console.error(`${problems} problem(s)`);
	process.exit(1);
}
console.log(`ok: ${decls.length} object(s) in ${files.length} file(s) match the Kubernetes API types`);
