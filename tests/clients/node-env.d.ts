// The one Node global the walkthrough reads, so that it type-checks without @types/node.
declare const process: { env: Record<string, string | undefined> };
