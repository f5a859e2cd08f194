package sqlite

import (
	"context"
	"database/sql/driver"
	"testing"
	"time"
)

func BenchmarkExpPacked(b *testing.B) {
	s, err := Open(context.Background(), b.TempDir()+"/x.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.db.Exec(`CREATE TABLE u3 (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, r TEXT NOT NULL,
		key_id TEXT GENERATED ALWAYS AS (r->>3) VIRTUAL, prompt_tokens INTEGER GENERATED ALWAYS AS (r->>7) VIRTUAL)`); err != nil {
		b.Fatal(err)
	}
	row := `["req_01JD8Z3W4Q5R6S7T8V9W000123","default","bk_3Xq9Lr2Tz8Wm","gpt-4o-mini","openai","",1234,321,0,0,0,4567,812,143,200,1]`
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		conn, _ := s.db.Conn(ctx)
		err := conn.Raw(func(dc any) error {
			c := dc.(rawConn)
			tx, _ := c.BeginTx(ctx, driver.TxOptions{})
			q := `INSERT INTO u3(ts, r) VALUES (?,?)`
			for i := 1; i < 32; i++ {
				q += ",(?,?)"
			}
			st, err := c.PrepareContext(ctx, q)
			if err != nil {
				return err
			}
			args := make([]driver.NamedValue, 64)
			for i := range args {
				args[i].Ordinal = i + 1
			}
			for range 256 / 32 {
				for i := 0; i < 64; i += 2 {
					args[i].Value = time.Now().UnixMilli()
					args[i+1].Value = row
				}
				if _, err := st.(driver.StmtExecContext).ExecContext(ctx, args[:]); err != nil {
					return err
				}
			}
			st.Close()
			return tx.Commit()
		})
		conn.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*256), "ns/row")
}
