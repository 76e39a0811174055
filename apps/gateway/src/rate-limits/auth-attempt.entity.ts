import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** What a rate limit counts: an account (hash of practice and login), an activation code (hash), an IP address, or a user's backup downloads. */
export type AttemptScope = 'account' | 'code' | 'ip' | 'backup';

/** One attempt counting against a limit; kept in the database so the limits hold across gateway nodes. */
@Entity('auth_attempts')
export class AuthAttemptEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint' })
  id!: string;

  @Column('text')
  scope!: AttemptScope;

  @Column('text')
  subject!: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;
}
