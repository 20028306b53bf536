// A distributed table, created and distributed in one migration.
export const up = (pgm) => {
  pgm.createTable('docs', {
    id: { type: 'integer', primaryKey: true },
    tenant: { type: 'integer', notNull: true },
    title: { type: 'text' },
    embedding: { type: 'vector(3)' },
  });
  pgm.sql("SELECT create_distributed_table('docs', 'id', shard_count => 4, replication_factor => 2)");
};

export const down = (pgm) => {
  pgm.dropTable('docs');
};
