// A reference table (a full copy on every node) and a column added to the distributed table.
export const up = (pgm) => {
  pgm.createTable('tenants', { id: { type: 'integer', primaryKey: true }, name: { type: 'text', notNull: true } });
  pgm.sql("SELECT create_reference_table('tenants')");
  pgm.sql("INSERT INTO tenants VALUES (0, 'zero'), (1, 'one'), (2, 'two')");
  pgm.addColumn('docs', { source: { type: 'text', default: 'import' } });
};

export const down = (pgm) => {
  pgm.dropColumn('docs', 'source');
  pgm.dropTable('tenants');
};
