// The HNSW index: created on every shard.
export const up = (pgm) => {
  pgm.createIndex('docs', [{ name: 'embedding', opclass: { name: 'vector_cosine_ops' } }], { name: 'docs_embedding_idx', method: 'hnsw' });
};

export const down = (pgm) => {
  pgm.dropIndex('docs', [], { name: 'docs_embedding_idx' });
};
